/* docbox booking page: proof of work (ALTCHA format), error focus, hold countdown. No dependencies. */
(function () {
  "use strict";

  var summary = document.querySelector(".error-summary");
  if (summary) {
    summary.focus();
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // Find number with SHA-256(salt + number) == challenge, in slices so the page stays responsive.
  async function solve(challenge) {
    var encoder = new TextEncoder();
    for (var n = 0; n <= challenge.maxnumber; n++) {
      var digest = await crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n));
      if (hex(digest) === challenge.challenge) {
        return n;
      }
    }
    return null;
  }

  var form = document.querySelector("form[data-altcha]");
  if (form && window.crypto && crypto.subtle) {
    var status = document.getElementById("pow-status");
    var field = document.getElementById("altcha");
    var challenge = JSON.parse(form.getAttribute("data-altcha"));
    var solved = false;
    var submitWhenSolved = false;
    solve(challenge).then(function (number) {
      if (number === null) {
        status.textContent = form.getAttribute("data-pow-failed");
        return;
      }
      field.value = btoa(JSON.stringify({
        algorithm: challenge.algorithm,
        challenge: challenge.challenge,
        number: number,
        salt: challenge.salt,
        signature: challenge.signature
      }));
      solved = true;
      form.setAttribute("data-pow-solved", "true");
      if (submitWhenSolved) {
        status.textContent = form.getAttribute("data-pow-done");
        form.submit();
      }
    });
    form.addEventListener("submit", function (event) {
      if (!solved) {
        event.preventDefault();
        submitWhenSolved = true;
        status.textContent = form.getAttribute("data-pow-working");
      }
    });
  }

  var timer = document.getElementById("hold-timer");
  if (timer) {
    var remaining = parseInt(timer.getAttribute("data-remaining"), 10);
    var warnAt = parseInt(timer.getAttribute("data-warn"), 10);
    var template = timer.getAttribute("data-template");
    var warning = document.getElementById("hold-warning");
    var started = Date.now();
    var interval = null;
    var tick = function () {
      var left = Math.max(0, remaining - Math.floor((Date.now() - started) / 1000));
      timer.textContent = template
        .replace("{minutes}", String(Math.floor(left / 60)))
        .replace("{seconds}", String(left % 60));
      if (warning && warning.hidden && left <= warnAt) {
        warning.hidden = false;
      }
      if (left === 0) {
        timer.textContent = timer.getAttribute("data-expired");
        window.clearInterval(interval);
      }
    };
    tick();
    interval = window.setInterval(tick, 1000);
  }
})();
