/*
 * Single-key shortcuts on the approval queue's review page
 * (templates/admin/outreach/pendingapproval/change_form.html):
 *
 *   a        approve (the Approve button: the server refuses it if fields were edited)
 *   r        reject: focuses the comment and asks for Enter to confirm (Esc cancels),
 *            so one stray key never rejects, and the reason is one keystroke away
 *   j or n   next item of the queue (back to the queue after the last one)
 *   k or p   previous item
 *   Esc      leaves the field being typed in, so the keys work again
 *
 * Keys are ignored while typing in a field and with Ctrl, Alt or Cmd held
 * (browser shortcuts keep working). The buttons and links do the real work,
 * so the page works the same without this script.
 */
(function () {
  "use strict";

  var root = document.getElementById("approval-review");
  if (!root) {
    return;
  }
  var form = document.getElementById("decision-form");
  var comment = form ? form.querySelector("textarea[name=comment]") : null;
  var submitting = false;

  function isTyping(target) {
    if (!target || !target.closest) {
      return false;
    }
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]"));
  }

  function decide(decision) {
    var button = form && form.querySelector("button[name=decision][value=" + decision + "]");
    if (!button || submitting) {
      return;
    }
    submitting = true;
    if (form.requestSubmit) {
      form.requestSubmit(button); // posts the button's name=value, like a click
    } else {
      button.click();
    }
  }

  function go(url) {
    if (url) {
      window.location.assign(url);
    }
  }

  function startRejecting() {
    if (!form || !comment) {
      return;
    }
    root.classList.add("rejecting");
    comment.focus();
  }

  function stopRejecting() {
    root.classList.remove("rejecting");
  }

  if (comment) {
    comment.addEventListener("keydown", function (event) {
      if (!root.classList.contains("rejecting")) {
        return;
      }
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        decide("reject");
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        stopRejecting();
        comment.blur();
      }
    });
    comment.addEventListener("blur", function () {
      if (!submitting) {
        stopRejecting();
      }
    });
  }

  root.dataset.keys = "on"; // the shortcuts are live (tests wait for this)
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (isTyping(event.target)) {
      if (event.key === "Escape") {
        event.target.blur();
      }
      return;
    }
    switch (event.key) {
      case "a":
        event.preventDefault();
        decide("approve");
        break;
      case "r":
        event.preventDefault();
        startRejecting();
        break;
      case "j":
      case "n":
        event.preventDefault();
        go(root.dataset.nextUrl || root.dataset.queueUrl);
        break;
      case "k":
      case "p":
        event.preventDefault();
        go(root.dataset.previousUrl);
        break;
      default:
        break;
    }
  });
})();
