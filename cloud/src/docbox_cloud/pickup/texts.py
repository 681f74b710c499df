"""Applicant notification texts in every supported language: the one catalogue.

Placeholders: ``{pin}`` (one-time PIN), ``{until}`` (last day, YYYY-MM-DD), ``{at}`` (date and
time of collection, UTC), ``{ref}`` (the case number's last characters, never a name).
"""

from __future__ import annotations

from typing import Literal

Language = Literal["de", "en", "ar", "tr", "uk", "ru", "fa", "fr"]
LANGUAGES: tuple[Language, ...] = ("de", "en", "ar", "tr", "uk", "ru", "fa", "fr")
MessageKind = Literal["ready", "reminder", "returned", "collected"]

#: (subject, body) per kind and language.
CATALOGUE: dict[MessageKind, dict[Language, tuple[str, str]]] = {
    "ready": {
        "de": (
            "Ihr Dokument liegt im Abholfach bereit",
            "Ihr Dokument ({ref}) liegt im Abholautomaten bereit. Einmal-PIN: {pin}. Melden Sie sich mit "
            "Telefonnummer oder Aktenzeichen, PIN und Geburtsdatum an. Abholung bis {until}.",
        ),
        "en": (
            "Your document is ready for pickup",
            "Your document ({ref}) is ready in the pickup box. One-time PIN: {pin}. Sign in with your phone "
            "number or case number, the PIN and your date of birth. Collect it by {until}.",
        ),
        "ar": (
            "وثيقتك جاهزة للاستلام",
            "وثيقتك ({ref}) جاهزة في صندوق الاستلام. الرقم السري لمرة واحدة: {pin}. سجّل الدخول برقم هاتفك أو "
            "رقم الملف والرقم السري وتاريخ ميلادك. يرجى الاستلام قبل {until}.",
        ),
        "tr": (
            "Belgeniz teslim almaya hazır",
            "Belgeniz ({ref}) teslim kutusunda hazır. Tek kullanımlık PIN: {pin}. Telefon numaranız veya "
            "dosya numaranız, PIN ve doğum tarihinizle giriş yapın. Son teslim alma tarihi: {until}.",
        ),
        "uk": (
            "Ваш документ готовий до отримання",
            "Ваш документ ({ref}) чекає в поштоматі. Одноразовий PIN: {pin}. Увійдіть за номером телефону "
            "або номером справи, PIN-кодом і датою народження. Заберіть до {until}.",
        ),
        "ru": (
            "Ваш документ готов к получению",
            "Ваш документ ({ref}) ждёт в автомате выдачи. Одноразовый PIN: {pin}. Войдите по номеру телефона "
            "или номеру дела, PIN-коду и дате рождения. Заберите до {until}.",
        ),
        "fa": (
            "مدرک شما آماده تحویل است",
            "مدرک شما ({ref}) در صندوق تحویل آماده است. رمز یک‌بارمصرف: {pin}. با شماره تلفن یا شماره پرونده، "
            "رمز و تاریخ تولد خود وارد شوید. مهلت دریافت تا {until}.",
        ),
        "fr": (
            "Votre document est prêt à être retiré",
            "Votre document ({ref}) vous attend dans le casier de retrait. Code PIN à usage unique : {pin}. "
            "Connectez-vous avec votre numéro de téléphone ou de dossier, le PIN et votre date de naissance. "
            "À retirer avant le {until}.",
        ),
    },
    "reminder": {
        "de": (
            "Erinnerung: Dokument abholen",
            "Ihr Dokument ({ref}) liegt noch bereit. Bitte holen Sie es bis {until} ab.",
        ),
        "en": (
            "Reminder: collect your document",
            "Your document ({ref}) is still waiting. Please collect it by {until}.",
        ),
        "ar": ("تذكير: استلم وثيقتك", "وثيقتك ({ref}) لا تزال بانتظارك. يرجى استلامها قبل {until}."),
        "tr": (
            "Hatırlatma: belgenizi alın",
            "Belgeniz ({ref}) hâlâ sizi bekliyor. Lütfen {until} tarihine kadar alın.",
        ),
        "uk": (
            "Нагадування: заберіть документ",
            "Ваш документ ({ref}) ще чекає. Будь ласка, заберіть його до {until}.",
        ),
        "ru": (
            "Напоминание: заберите документ",
            "Ваш документ ({ref}) всё ещё ждёт. Пожалуйста, заберите его до {until}.",
        ),
        "fa": (
            "یادآوری: مدرک خود را دریافت کنید",
            "مدرک شما ({ref}) هنوز منتظر است. لطفاً تا {until} آن را دریافت کنید.",
        ),
        "fr": (
            "Rappel : retirez votre document",
            "Votre document ({ref}) vous attend toujours. Retirez-le avant le {until}.",
        ),
    },
    "returned": {
        "de": (
            "Dokument an den Schalter zurückgegeben",
            "Ihr Dokument ({ref}) wurde nicht abgeholt und liegt jetzt am Schalter. "
            "Bitte buchen Sie einen Termin.",
        ),
        "en": (
            "Document returned to the counter",
            "Your document ({ref}) was not collected and is now at the counter. Please book an appointment.",
        ),
        "ar": ("أُعيدت الوثيقة إلى الشباك", "لم تُستلم وثيقتك ({ref}) وهي الآن عند الشباك. يرجى حجز موعد."),
        "tr": (
            "Belge gişeye iade edildi",
            "Belgeniz ({ref}) teslim alınmadı ve şimdi gişede. Lütfen randevu alın.",
        ),
        "uk": (
            "Документ повернено до віконця",
            "Ваш документ ({ref}) не забрали, тепер він у віконці. Запишіться на прийом.",
        ),
        "ru": (
            "Документ возвращён в окно приёма",
            "Ваш документ ({ref}) не забрали, теперь он в окне приёма. Запишитесь на приём.",
        ),
        "fa": (
            "مدرک به باجه بازگردانده شد",
            "مدرک شما ({ref}) دریافت نشد و اکنون در باجه است. لطفاً نوبت بگیرید.",
        ),
        "fr": (
            "Document rendu au guichet",
            "Votre document ({ref}) n'a pas été retiré et se trouve au guichet. Prenez rendez-vous.",
        ),
    },
    "collected": {
        "de": ("Empfangsbestätigung", "Ihr Dokument ({ref}) wurde am {at} abgeholt."),
        "en": ("Receipt", "Your document ({ref}) was collected on {at}."),
        "ar": ("إيصال استلام", "تم استلام وثيقتك ({ref}) في {at}."),
        "tr": ("Teslim alındı belgesi", "Belgeniz ({ref}) {at} tarihinde teslim alındı."),
        "uk": ("Підтвердження отримання", "Ваш документ ({ref}) отримано {at}."),
        "ru": ("Подтверждение получения", "Ваш документ ({ref}) получен {at}."),
        "fa": ("رسید دریافت", "مدرک شما ({ref}) در {at} دریافت شد."),
        "fr": ("Accusé de retrait", "Votre document ({ref}) a été retiré le {at}."),
    },
}


def render(kind: MessageKind, language: str, **values: str) -> tuple[str, str]:
    """Return ``(subject, body)`` of ``kind`` in ``language`` (German when it is not supported)."""
    texts = CATALOGUE[kind]
    subject, body = texts.get(language, texts["de"])  # type: ignore[call-overload]
    return subject, body.format(**values)
