// vipredict curators' page: keyboard moves, the upload's size check, note drafts.
// Written here, loaded from this service only (CSP: script-src 'self'); the page
// works without it, this only adds keys and keeps a note a refused request would lose.
(function () {
  "use strict";

  function typing(event) {
    var t = event.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(t.tagName));
  }

  // Queue table: j/k move a visible current row, Enter (on its focused link) opens it.
  function tableKeys() {
    var rows = Array.prototype.slice.call(document.querySelectorAll("table.grid tbody tr[data-row]"));
    if (!rows.length) { return; }
    var current = -1;
    function go(i) {
      if (i < 0 || i >= rows.length) { return; }
      if (current >= 0) { rows[current].classList.remove("current"); }
      current = i;
      var row = rows[i];
      row.classList.add("current");
      var link = row.querySelector("a");
      if (link) { link.focus(); } else { row.setAttribute("tabindex", "-1"); row.focus(); }
      row.scrollIntoView({block: "nearest"});
    }
    rows.forEach(function (row, i) {
      row.addEventListener("focusin", function () {
        if (current >= 0 && current !== i) { rows[current].classList.remove("current"); }
        current = i; row.classList.add("current");
      });
    });
    document.addEventListener("keydown", function (event) {
      if (typing(event) && event.target.tagName !== "A") { return; }
      if (event.altKey || event.ctrlKey || event.metaKey) { return; }
      if (event.key === "j") { event.preventDefault(); go(current + 1); }
      else if (event.key === "k") { event.preventDefault(); go(Math.max(current - 1, 0)); }
    });
  }

  // "/" jumps to the gene filter.
  function filterKey() {
    var field = document.querySelector("[data-filter-focus]");
    if (!field) { return; }
    document.addEventListener("keydown", function (event) {
      if (event.key === "/" && !typing(event)) { event.preventDefault(); field.focus(); field.select(); }
    });
  }

  // Variant page: n/p next/previous item, u up to the queue, a/r/d pick a decision.
  function variantKeys() {
    var next = document.querySelector("[data-next]");
    var prev = document.querySelector("[data-prev]");
    var up = document.querySelector("[data-up]");
    var choices = document.querySelectorAll("input[type=radio][data-key]");
    if (!next && !prev && !choices.length) { return; }
    document.addEventListener("keydown", function (event) {
      if (typing(event) || event.altKey || event.ctrlKey || event.metaKey) { return; }
      if (event.key === "n" && next) { next.click(); }
      else if (event.key === "p" && prev) { prev.click(); }
      else if (event.key === "u" && up) { up.click(); }
      else {
        Array.prototype.forEach.call(choices, function (input) {
          if (input.getAttribute("data-key") === event.key) { input.checked = true; input.focus(); }
        });
      }
    });
  }

  // Refuse an oversized file before sending it: the server would answer 413 anyway.
  function uploadCheck() {
    var form = document.querySelector("form[data-max-bytes]");
    if (!form) { return; }
    var max = parseInt(form.getAttribute("data-max-bytes"), 10);
    var input = form.querySelector("input[type=file]");
    var warning = form.querySelector("[data-size-warning]");
    function check() {
      var file = input.files && input.files[0];
      var tooBig = !!file && file.size > max;
      warning.hidden = !tooBig;
      warning.textContent = tooBig ? file.name + " is " + file.size.toLocaleString() +
        " bytes; this service takes at most " + max.toLocaleString() + "." : "";
      return !tooBig;
    }
    input.addEventListener("change", check);
    form.addEventListener("submit", function (event) { if (!check()) { event.preventDefault(); } });
  }

  // A note being written is kept in this tab (sessionStorage) until it is saved, so a
  // refused request (signed out, key expired) does not lose it.
  function noteDrafts() {
    var note = document.querySelector("textarea[data-draft]");
    if (!note) { return; }
    var slot = "vipredict-note:" + note.getAttribute("data-draft");
    try {
      if (document.querySelector("[data-saved]")) { sessionStorage.removeItem(slot); }
      else if (!note.value && sessionStorage.getItem(slot)) { note.value = sessionStorage.getItem(slot); }
      note.addEventListener("input", function () { sessionStorage.setItem(slot, note.value); });
    } catch (e) { /* storage off: the page still works */ }
  }

  function backButtons() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-back]"), function (button) {
      if (history.length > 1) { button.hidden = false; }
      button.addEventListener("click", function () { history.back(); });
    });
  }

  // A sign-in form on a refusal page returns to the page that was refused.
  function signInReturn() {
    var next = document.querySelector("form input[type=hidden][name=next]");
    var here = location.pathname + location.search;
    if (next && /^\/ui(\/|$)/.test(location.pathname) && location.pathname !== "/ui/login") {
      next.value = here;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    tableKeys(); filterKey(); variantKeys(); uploadCheck(); noteDrafts(); backButtons();
    signInReturn();
  });
}());
