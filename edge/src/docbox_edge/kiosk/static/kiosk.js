/* docbox kiosk: screen flow of the touchscreen. No libraries; texts come from the page. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("kiosk-data").textContent);
  var T = data.texts;
  var S = data.staff;
  var IDLE_MS = data.idle_s * 1000;
  var WARN_MS = 20000;
  var REMIND_MS = 60000;

  var current = "start";
  var session = null;
  var documents = [];
  var staff = null;
  var lastField = null;
  var idleWarnTimer = null;
  var idleHomeTimer = null;
  var doneTimer = null;

  function $(id) { return document.getElementById(id); }

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : match;
    });
  }

  function setRegion(el, text, lang) {
    if (lang) { el.setAttribute("lang", lang); } else { el.removeAttribute("lang"); }
    el.textContent = text;
  }
  function say(text, lang) { setRegion($("status"), text, lang); }
  function fail(text, lang) { setRegion($("error"), text, lang); }
  function clearMessages() { say(""); fail(""); }

  function show(name, focusId) {
    var screens = document.querySelectorAll(".screen");
    for (var i = 0; i < screens.length; i++) {
      screens[i].hidden = screens[i].id !== "screen-" + name;
    }
    current = name;
    document.body.setAttribute("data-screen", name);
    var target = focusId ? $(focusId) : $("screen-" + name).querySelector("h1");
    if (target) {
      if (target.tagName === "H1") { target.setAttribute("tabindex", "-1"); }
      target.focus();
    }
    armIdle();
  }

  function home(resetLanguage) {
    session = null;
    documents = [];
    staff = null;
    if (doneTimer) { clearTimeout(doneTimer); doneTimer = null; }
    var forms = document.querySelectorAll("form");
    for (var i = 0; i < forms.length; i++) { forms[i].reset(); }
    $("load-result").textContent = "";
    $("btn-next").hidden = true;
    $("idle").hidden = true;
    clearMessages();
    if (resetLanguage && data.lang !== data.default_lang) {
      window.location.assign("/");
      return;
    }
    show("start", "btn-collect");
  }

  function problem(text) {
    $("problem-text").textContent = text;
    show("problem");
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (payload) {
        return { status: response.status, body: payload };
      });
    });
  }

  /* ------------------------------------------------------------------ idle timeout */

  function armIdle() {
    if (idleWarnTimer) { clearTimeout(idleWarnTimer); }
    if (idleHomeTimer) { clearTimeout(idleHomeTimer); }
    idleWarnTimer = idleHomeTimer = null;
    $("idle").hidden = true;
    // The start screen has nothing to lose; an open door is waited for, not timed out.
    if ((current === "start" && data.lang === data.default_lang) || current === "opened") { return; }
    if (current === "start") {
      idleHomeTimer = setTimeout(function () { home(true); }, IDLE_MS);
      return;
    }
    idleWarnTimer = setTimeout(function () {
      $("idle").hidden = false;
      $("btn-continue").focus();
      idleHomeTimer = setTimeout(function () { home(true); }, WARN_MS);
    }, Math.max(IDLE_MS - WARN_MS, 1000));
  }

  ["pointerdown", "keydown", "input"].forEach(function (type) {
    document.addEventListener(type, function () {
      if ($("idle").hidden) { armIdle(); }
    }, true);
  });
  $("btn-continue").addEventListener("click", function () {
    armIdle();
    var heading = $("screen-" + current).querySelector("h1");
    if (heading) { heading.focus(); }
  });

  /* ------------------------------------------------------------------ applicant */

  $("btn-collect").addEventListener("click", function () {
    clearMessages();
    show("signin", "login");
  });

  var actions = document.querySelectorAll("[data-action=home]");
  for (var a = 0; a < actions.length; a++) {
    actions[a].addEventListener("click", function () { home(false); });
  }

  document.querySelectorAll("#form-signin input").forEach(function (input) {
    input.addEventListener("focus", function () { lastField = input; });
  });
  document.querySelectorAll(".key").forEach(function (key) {
    key.addEventListener("click", function () {
      var field = lastField || $("login");
      var k = key.getAttribute("data-key");
      if (k === "back") {
        field.value = field.value.slice(0, -1);
      } else if (field.value.length < (field.maxLength > 0 ? field.maxLength : 64)) {
        field.value += k;
      }
      field.dispatchEvent(new Event("input", { bubbles: true }));
    });
  });

  $("form-signin").addEventListener("submit", function (ev) {
    ev.preventDefault();
    clearMessages();
    var login = $("login").value.trim();
    var pin = $("pin").value.trim();
    var dob = $("dob").value.trim();
    if (!login || !pin || !dob) {
      fail(T.err_input);
      return;
    }
    var submit = ev.target.querySelector("[type=submit]");
    submit.disabled = true;
    say(T.checking);
    post("/api/signin", { login: login, pin: pin, dob: dob }).then(function (r) {
      submit.disabled = false;
      say("");
      $("pin").value = "";
      if (r.status === 200 && r.body.ok) {
        session = r.body.session;
        documents = r.body.documents;
        if (documents.length === 1) { openDocument(documents[0]); } else { showDocuments(); }
        return;
      }
      var minutes = Math.max(1, Math.ceil((r.body.retry_after_s || 60) / 60));
      var reason = r.body.reason;
      if (r.status === 400) { fail(T.err_input); }
      else if (reason === "mismatch") { fail(T.err_mismatch); }
      else if (reason === "locked_login") { fail(fmt(T.err_locked_login, { minutes: minutes })); }
      else if (reason === "locked_box") { fail(fmt(T.err_locked_box, { minutes: minutes })); }
      else if (reason === "not_valid_now") { fail(T.err_not_valid); }
      else { fail(T.err_generic); }
    }).catch(function () {
      submit.disabled = false;
      say("");
      fail(T.err_generic);
    });
  });

  function showDocuments() {
    var list = $("documents");
    list.textContent = "";
    documents.forEach(function (doc) {
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "big primary";
      button.textContent = fmt(T.open_compartment, { n: doc.compartment });
      button.addEventListener("click", function () { openDocument(doc); });
      item.appendChild(button);
      list.appendChild(item);
    });
    show("documents");
  }

  function openDocument(doc) {
    clearMessages();
    say(fmt(T.opening, { n: doc.compartment }));
    post("/api/open", { session: session, grant_id: doc.grant_id }).then(function (r) {
      say("");
      var outcome = r.body.outcome;
      if (r.status === 200 && outcome === "opened") {
        $("h-opened").textContent = fmt(T.opened_title, { n: doc.compartment });
        show("opened");
        waitHandover(doc, Date.now(), false);
      } else if (outcome === "jammed" || r.body.refusal === "defective") {
        problem(fmt(T.jammed, { n: doc.compartment }));
      } else if (r.body.refusal === "not_valid_now") {
        problem(T.err_not_valid);
      } else {
        problem(T.err_generic);
      }
    }).catch(function () { problem(T.err_generic); });
  }

  function waitHandover(doc, since, reminded) {
    if (current !== "opened") { return; }
    post("/api/handover", { session: session, grant_id: doc.grant_id }).then(function (r) {
      if (r.status !== 200) { problem(T.err_generic); return; }
      if (r.body.done) {
        clearMessages();
        documents = documents.filter(function (d) { return d.grant_id !== doc.grant_id; });
        if (documents.length) { showDocuments(); return; }
        show("done");
        doneTimer = setTimeout(function () { home(true); }, 15000);
        return;
      }
      if (!reminded && Date.now() - since > REMIND_MS) {
        fail(fmt(T.shut_reminder, { n: doc.compartment }));
        reminded = true;
      }
      waitHandover(doc, since, reminded);
    }).catch(function () {
      setTimeout(function () { waitHandover(doc, since, reminded); }, 2000);
    });
  }

  /* ------------------------------------------------------------------ staff */

  var staffLang = $("screen-staff").getAttribute("lang");

  $("btn-staff").addEventListener("click", function () {
    clearMessages();
    show("staff", "staff-id");
  });

  $("form-staff").addEventListener("submit", function (ev) {
    ev.preventDefault();
    clearMessages();
    var id = $("staff-id").value.trim();
    var pin = $("staff-pin").value.trim();
    if (!id || !pin) { fail(T.err_input); return; }
    staff = { id: id, pin: pin };
    $("form-staff").reset();
    show("load", "document-code");
  });

  $("form-load").addEventListener("submit", function (ev) {
    ev.preventDefault();
    staffRequest("load", ev.target.querySelector("[type=submit]"));
  });
  $("btn-retrieve").addEventListener("click", function () {
    staffRequest("retrieve", $("btn-retrieve"));
  });

  function staffRequest(kind, button) {
    clearMessages();
    $("load-result").textContent = "";
    var code = $("document-code").value.trim();
    if ((kind === "load" && !code) || !staff) { fail(T.err_input); return; }
    button.disabled = true;
    say(S.load_wait, staffLang);
    var body = { staff_id: staff.id, staff_pin: staff.pin, document_code: code || null };
    post("/api/staff/" + kind, body).then(function (r) {
      button.disabled = false;
      say("");
      var b = r.body;
      if (r.status === 200 && b.outcome === "opened") {
        var text = fmt(kind === "load" ? S.load_opened : S.retrieve_opened, { n: b.compartment });
        $("load-result").textContent = text;
        say(text, staffLang);
        $("btn-next").hidden = false;
        $("btn-next").focus();
        return;
      }
      if (b.outcome === "jammed") { fail(fmt(S.load_jammed, { n: b.compartment }), staffLang); }
      else if (b.outcome === "refused") { fail(fmt(S.load_refused, { reason: b.message || b.code }), staffLang); }
      else if (b.outcome === "failed") { fail(fmt(S.load_failed, { reason: b.code || "" }), staffLang); }
      else if (b.outcome === "needs_connection") { fail(S.needs_connection, staffLang); }
      else if (b.outcome === "no_answer") { fail(S.load_no_answer, staffLang); }
      else { fail(fmt(S.load_refused, { reason: b.detail || r.status }), staffLang); }
    }).catch(function () {
      button.disabled = false;
      fail(S.load_no_answer, staffLang);
    });
  }

  $("btn-next").addEventListener("click", function () {
    clearMessages();
    $("load-result").textContent = "";
    $("btn-next").hidden = true;
    $("document-code").value = "";
    $("document-code").focus();
  });

  /* ------------------------------------------------------------------ connection indicator */

  function refreshStatus() {
    fetch("/api/status", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (s) {
      var net = $("net");
      net.textContent = s.online ? T.online : T.offline;
      net.className = "net " + (s.online ? "on" : "off");
    }).catch(function () { /* the agent restarts: try again later */ });
  }
  setInterval(refreshStatus, 5000);

  show("start", null);
  document.body.setAttribute("data-ready", "true");
})();
