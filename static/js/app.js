// Small enhancements on top of htmx. Every page works without this file: it only adds
// the CSRF header to htmx requests, Escape to cancel an edit, sensible focus after a row
// leaves, and a message when the server cannot answer.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  // The lists menu starts closed at phone width (open without JS, so it is never lost).
  document.addEventListener("DOMContentLoaded", function () {
    var menu = document.querySelector("details.lists-menu");
    if (menu && window.matchMedia("(max-width: 55.99rem)").matches) {
      menu.open = false;
    }
  });

  // Live updates. The task pages hold a stream of changes (/events, through htmx's SSE
  // extension); each `changed` event names the lists it touched. The sidebar and the
  // counts are re-read on every change, the rows when the change touches the list shown
  // (or says to re-read everything). An open edit form is never replaced under the
  // user's hands: the rows are re-read once it is closed.
  var rowsStale = false;
  // This page's id, sent with its htmx requests: the changes they make come back on the
  // stream with it, and are not re-read (the request's answer showed them already).
  var pageId = Math.random().toString(36).slice(2) + Date.now().toString(36);

  function reread(target) {
    htmx.ajax("GET", window.location.pathname + window.location.search, {
      target: target,
      swap: "outerHTML",
    });
  }

  function rereadRows() {
    var listing = document.querySelector("#listing, #trash-listing");
    if (!listing) {
      return;
    }
    // Rows being edited, or ticked for a bulk restore, are not swapped away.
    rowsStale = Boolean(document.querySelector(".task.editing, #trash input.select:checked"));
    if (!rowsStale) {
      reread("#" + listing.id);
    }
  }

  document.addEventListener("sse:changed", function (event) {
    var change = {};
    try {
      change = JSON.parse(event.detail.data);
    } catch (error) {
      change = { resync: true };
    }
    if (change.origin && change.origin === pageId) {
      return;
    }
    var shown = event.target.getAttribute("data-list");
    if (document.getElementById("lists-nav")) {
      reread("#lists-nav");
    }
    var lists = change.lists || [];
    // No list named (a job's batch): it may be this one.
    var anyList = lists.length === 0;
    if (change.resync || change.access || !shown || anyList || lists.indexOf(shown) !== -1) {
      rereadRows();
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (rowsStale && !document.querySelector(".task.editing")) {
      rereadRows();
    }
  });

  // htmx requests carry the page's CSRF token as a header (forms also send it as a field).
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) {
      event.detail.headers["X-CSRFToken"] = meta.content;
    }
    event.detail.headers["X-Page-Id"] = pageId;
  });

  // Escape while editing a task: the same as pressing Cancel.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !(event.target instanceof Element)) {
      return;
    }
    var form = event.target.closest("form.edit-form");
    var cancel = form && form.querySelector(".cancel");
    if (cancel) {
      event.preventDefault();
      cancel.click();
    }
  });

  // "Select all" in the trash ticks every row's checkbox (without JS it is hidden, and
  // "Restore all" does the same job).
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement) || box.id !== "select-all") {
      return;
    }
    document.querySelectorAll("#trash input.select").forEach(function (row) {
      row.checked = box.checked;
    });
  });

  // Toasts: the dismiss button only works with JS (CSS hides it otherwise).
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element && event.target.closest(".toast .dismiss");
    if (button) {
      button.closest(".toast").remove();
    }
  });

  // Focus: when the row that held focus is swapped, htmx keeps focus on an element with
  // the same id if there is one. When there is none (the row left, or an edit ended),
  // move it to the row itself, else a neighbouring row, else the new-task field.
  var focusedRow = null;

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var active = document.activeElement;
    focusedRow = null;
    if (target instanceof Element && target.matches("li.task") && target.contains(active)) {
      focusedRow = {
        id: target.id,
        next: target.nextElementSibling && target.nextElementSibling.id,
        previous: target.previousElementSibling && target.previousElementSibling.id,
      };
    }
  });

  // The same row after an edit: its Edit link. A neighbour: its checkbox (or, in the
  // trash, its first button).
  function control(id, selector) {
    var row = id && document.getElementById(id);
    return row && (row.querySelector(selector) || row.querySelector("button"));
  }

  document.addEventListener("htmx:afterSettle", function () {
    if (!focusedRow) {
      return;
    }
    var row = focusedRow;
    focusedRow = null;
    var active = document.activeElement;
    if (active && active !== document.body && document.body.contains(active)) {
      return;
    }
    var next =
      control(row.id, ".edit") ||
      control(row.next, ".toggle") ||
      control(row.previous, ".toggle") ||
      document.getElementById("new-title") ||
      document.getElementById("main");
    if (next) {
      next.focus();
    }
  });

  function showError(text) {
    var toasts = document.getElementById("toasts");
    if (!toasts) {
      return;
    }
    var toast = document.createElement("div");
    toast.className = "toast error";
    var message = document.createElement("p");
    message.textContent = text;
    toast.appendChild(message);
    toasts.replaceChildren(toast);
  }

  // 4xx answers carry their own message (a re-rendered form or a toast); these do not.
  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.xhr.status >= 500) {
      showError("Something went wrong on our side. Please try again.");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    showError("The server could not be reached. Check the connection and try again.");
  });
})();
