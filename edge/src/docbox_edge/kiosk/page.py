"""The kiosk's one HTML page, rendered on the server in the chosen language.

Every screen is a ``<section>`` of the page; the script (static/kiosk.js) shows one at a
time. Texts the script needs later (errors, messages with a compartment number) travel as a
JSON data block, so the page works without any template engine and without inline script.
"""

from __future__ import annotations

import json
from html import escape

from docbox_edge.kiosk.i18n import DEFAULT_LANGUAGE, LANGUAGES, Language, applicant_texts, staff_texts


def render_page(lang: Language, *, online: bool, idle_s: float) -> str:
    """The complete kiosk page in ``lang``."""
    t = {k: escape(v) for k, v in applicant_texts(lang.code).items()}
    staff_lang, staff_raw = staff_texts(lang.code)
    s = {k: escape(v) for k, v in staff_raw.items()}
    staff_attrs = f'lang="{staff_lang}" dir="ltr"'
    data = {
        "texts": applicant_texts(lang.code),
        "staff": staff_raw,
        "idle_s": idle_s,
        "lang": lang.code,
        "default_lang": DEFAULT_LANGUAGE,
    }
    # "</" cannot end the data block early: JSON escapes it as "<\/".
    blob = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    languages = "\n".join(_language_link(x, current=x.code == lang.code) for x in LANGUAGES)
    keypad = "\n".join(
        f'<button type="button" class="key" data-key="{k}">{k}</button>'
        for k in ("1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "0", ".")
    )
    net = t["online"] if online else t["offline"]
    return f"""<!DOCTYPE html>
<html lang="{lang.code}" dir="{lang.direction}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t["title"]}</title>
<link rel="stylesheet" href="/static/kiosk.css">
</head>
<body>
<header class="bar">
  <p class="brand">{t["title"]}</p>
  <p id="net" class="net {"on" if online else "off"}">{net}</p>
</header>
<main id="main" tabindex="-1">
<div id="status" class="status" role="status" aria-live="polite"></div>
<div id="error" class="error" role="alert"></div>

<section id="screen-start" class="screen" aria-labelledby="h-start">
  <h1 id="h-start">{t["welcome"]}</h1>
  <p>{t["start_hint"]}</p>
  <button type="button" id="btn-collect" class="big primary">{t["collect"]}</button>
  <nav aria-labelledby="h-lang">
    <h2 id="h-lang" class="small-heading">{t["language"]}</h2>
    <ul class="langs">
{languages}
    </ul>
  </nav>
  <button type="button" id="btn-staff" class="secondary">{t["staff"]}</button>
</section>

<section id="screen-signin" class="screen" aria-labelledby="h-signin" hidden>
  <h1 id="h-signin">{t["signin_title"]}</h1>
  <form id="form-signin" novalidate autocomplete="off">
    <div class="field">
      <label for="login">{t["login_label"]}</label>
      <input id="login" name="login" type="text" inputmode="tel" maxlength="64" required
             aria-describedby="login-hint" autocomplete="off">
      <p id="login-hint" class="hint">{t["login_hint"]}</p>
    </div>
    <div class="field">
      <label for="pin">{t["pin_label"]}</label>
      <input id="pin" name="pin" type="password" inputmode="numeric" maxlength="12" required
             autocomplete="off">
    </div>
    <div class="field">
      <label for="dob">{t["dob_label"]}</label>
      <input id="dob" name="dob" type="text" inputmode="numeric" maxlength="10" required
             aria-describedby="dob-hint" autocomplete="off" dir="ltr">
      <p id="dob-hint" class="hint">{t["dob_hint"]}</p>
    </div>
    <div class="keypad" role="group" aria-label="{t["keypad"]}" dir="ltr">
{keypad}
      <button type="button" class="key" data-key="back" aria-label="{t["key_delete"]}">⌫</button>
    </div>
    <div class="actions">
      <button type="submit" class="big primary">{t["signin"]}</button>
      <button type="button" class="secondary" data-action="home">{t["cancel"]}</button>
    </div>
  </form>
</section>

<section id="screen-documents" class="screen" aria-labelledby="h-documents" hidden>
  <h1 id="h-documents">{t["documents_title"]}</h1>
  <p>{t["documents_hint"]}</p>
  <ul id="documents" class="documents"></ul>
  <button type="button" class="secondary" data-action="home">{t["cancel"]}</button>
</section>

<section id="screen-opened" class="screen" aria-labelledby="h-opened" hidden>
  <h1 id="h-opened"></h1>
  <p id="opened-text" class="large">{t["opened_text"]}</p>
</section>

<section id="screen-done" class="screen" aria-labelledby="h-done" hidden>
  <h1 id="h-done">{t["thanks"]}</h1>
  <button type="button" class="big primary" data-action="home">{t["back_to_start"]}</button>
</section>

<section id="screen-problem" class="screen" aria-labelledby="h-problem" hidden>
  <h1 id="h-problem">{t["title"]}</h1>
  <p id="problem-text" class="large"></p>
  <button type="button" class="big primary" data-action="home">{t["back_to_start"]}</button>
</section>

<section id="screen-staff" class="screen" aria-labelledby="h-staff" {staff_attrs} hidden>
  <h1 id="h-staff">{s["staff_title"]}</h1>
  <form id="form-staff" novalidate autocomplete="off">
    <div class="field">
      <label for="staff-id">{s["staff_id_label"]}</label>
      <input id="staff-id" name="staff_id" type="text" maxlength="64" required autocomplete="off">
    </div>
    <div class="field">
      <label for="staff-pin">{s["staff_pin_label"]}</label>
      <input id="staff-pin" name="staff_pin" type="password" inputmode="numeric" maxlength="12" required
             autocomplete="off">
    </div>
    <div class="actions">
      <button type="submit" class="big primary">{s["staff_continue"]}</button>
      <button type="button" class="secondary" data-action="home">{s["finish"]}</button>
    </div>
  </form>
</section>

<section id="screen-load" class="screen" aria-labelledby="h-load" {staff_attrs} hidden>
  <h1 id="h-load">{s["staff_title"]}</h1>
  <form id="form-load" novalidate autocomplete="off">
    <div class="field">
      <label for="document-code">{s["scan_label"]}</label>
      <input id="document-code" name="document_code" type="text" maxlength="64" required
             aria-describedby="scan-hint" autocomplete="off">
      <p id="scan-hint" class="hint">{s["scan_hint"]}</p>
    </div>
    <div class="actions">
      <button type="submit" class="big primary">{s["load"]}</button>
      <button type="button" id="btn-retrieve" class="big secondary">{s["retrieve"]}</button>
      <button type="button" class="secondary" data-action="home">{s["finish"]}</button>
    </div>
  </form>
  <p id="load-result" class="large"></p>
  <button type="button" id="btn-next" class="big primary" hidden>{s["next_document"]}</button>
</section>

<div id="idle" class="idle" role="alertdialog" aria-modal="true" aria-labelledby="idle-text" hidden>
  <p id="idle-text">{t["still_there"]}</p>
  <button type="button" id="btn-continue" class="big primary">{t["continue"]}</button>
</div>
</main>
<script type="application/json" id="kiosk-data">{blob}</script>
<script src="/static/kiosk.js"></script>
</body>
</html>
"""


def _language_link(lang: Language, *, current: bool) -> str:
    # Each name is marked with its own language, so a screen reader pronounces it right.
    code = lang.code
    attrs = f'class="lang" href="/?lang={code}" lang="{code}" dir="{lang.direction}" hreflang="{code}"'
    if current:
        attrs += ' aria-current="true"'
    return f"<li><a {attrs}>{escape(lang.name)}</a></li>"
