// Forms that destroy something (cancel, delete, disconnect, remove) carry data-confirm="question":
// ask before sending them. Delegated from the document, so forms that htmx swaps in are covered.
// A form also disables its submit buttons once sent, so a double click starts one job, not two.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    if (form.hasAttribute("data-once")) {
      if (form.getAttribute("data-sent") === "1") {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-sent", "1");
      // Disabled after this event, so the clicked button's own name and value are still sent.
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (button) {
          button.disabled = true;
          button.setAttribute("aria-disabled", "true");
        });
      }, 0);
    }
  });
})();
