/* Task board: drag and drop with SortableJS, plus the keyboard "Move" menus.
 *
 * Every move POSTs to the card's /tasks/<id>/move/ endpoint with the ids of its new neighbours
 * (after_id = the card above, before_id = the card below) and the column's status; the server
 * runs the same task_move service as the API. On a 409 (the board changed meanwhile) or any
 * other failure we say so and reload, so the page never shows an order the server lacks.
 */
(function () {
  "use strict";

  const board = document.querySelector("[data-board]");
  if (!board) return;
  const STATUS_LABELS = {};
  board.querySelectorAll("[data-column]").forEach(function (column) {
    const title = column.querySelector(".board-column-title");
    STATUS_LABELS[column.dataset.column] = title ? title.firstChild.textContent.trim() : column.dataset.column;
  });

  function cards(list) { return Array.from(list.querySelectorAll(":scope > .task-card")); }
  function prevCard(card) {
    let el = card.previousElementSibling;
    while (el && !el.classList.contains("task-card")) el = el.previousElementSibling;
    return el;
  }
  function nextCard(card) {
    let el = card.nextElementSibling;
    while (el && !el.classList.contains("task-card")) el = el.nextElementSibling;
    return el;
  }
  function listOf(status) { return board.querySelector('.board-list[data-status="' + status + '"]'); }
  function titleOf(card) {
    const title = card.querySelector(".task-card-title");
    return title ? title.textContent.trim() : "Task";
  }

  // Keep each card's Move menu truthful: up/down need a neighbour, its own column is disabled.
  function refreshCard(card) {
    const list = card.parentElement;
    const status = list.dataset.status;
    const prev = prevCard(card);
    const next = nextCard(card);
    card.querySelectorAll("[data-move]").forEach(function (button) {
      const kind = button.dataset.move;
      if (kind === "up") { button.disabled = !prev; button.value = prev ? prev.dataset.id : ""; }
      if (kind === "down") { button.disabled = !next; button.value = next ? next.dataset.id : ""; }
      if (kind === "status") button.disabled = button.value === status;
    });
  }
  function refreshList(list) { cards(list).forEach(refreshCard); }

  function adjustCount(status, delta) {
    const column = board.querySelector('[data-column="' + status + '"]');
    if (!column) return;
    const total = Math.max(0, parseInt(column.dataset.total || "0", 10) + delta);
    column.dataset.total = String(total);
    const formatted = total.toLocaleString("en-US");
    const badge = column.querySelector("[data-count]");
    if (badge) badge.textContent = formatted;
    const totalText = column.querySelector("[data-total-text]");
    if (totalText) totalText.textContent = formatted;
  }

  function fail(message) {
    window.alert(message || "The move could not be saved. The board will reload.");
    window.location.reload();
  }

  function postMove(card, params, fromStatus) {
    const form = card.querySelector("form.move-menu");
    const body = new URLSearchParams();
    Object.keys(params).forEach(function (key) { body.append(key, params[key] || ""); });
    card.classList.add("is-saving");
    card.setAttribute("aria-busy", "true");
    return fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": window.Tracker.csrfToken(), "Accept": "application/json" },
      body: body,
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        card.classList.remove("is-saving");
        card.removeAttribute("aria-busy");
        if (!response.ok || !data.ok) {
          fail(data.message || ("The move could not be saved (error " + response.status + "). The board will reload."));
          return;
        }
        if (fromStatus !== data.status) {
          adjustCount(fromStatus, -1);
          adjustCount(data.status, +1);
        }
        card.classList.remove("just-moved");
        void card.offsetWidth;
        card.classList.add("just-moved");
        const list = card.parentElement;
        const position = cards(list).indexOf(card) + 1;
        window.Tracker.announce("Moved “" + titleOf(card) + "” to " + (STATUS_LABELS[data.status] || data.status) +
          ", position " + position + ".");
      });
    }).catch(function () {
      fail("The server could not be reached. The board will reload.");
    });
  }

  // --- Drag and drop -------------------------------------------------------------------------
  // People who ask their system for less motion get cards that move without animating.
  const reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  board.querySelectorAll(".board-list").forEach(function (list) {
    window.Sortable.create(list, {
      group: "board",
      draggable: ".task-card",
      filter: ".dropdown, .move-menu",
      preventOnFilter: false,
      animation: reduceMotion ? 0 : 150,
      delay: 150,
      delayOnTouchOnly: true,
      ghostClass: "sortable-ghost",
      chosenClass: "sortable-chosen",
      dragClass: "sortable-drag",
      onEnd: function (event) {
        if (event.from === event.to && event.oldIndex === event.newIndex) return;
        const card = event.item;
        const prev = prevCard(card);
        const next = nextCard(card);
        refreshList(event.from);
        if (event.to !== event.from) refreshList(event.to);
        postMove(card, {
          status: event.to.dataset.status,
          after_id: prev ? prev.dataset.id : "",
          before_id: next ? next.dataset.id : "",
        }, event.from.dataset.status);
      },
    });
  });

  // --- Keyboard: the Move menu on every card --------------------------------------------------
  // Without JavaScript these are plain form posts (the server redirects back to the board);
  // with it, the card moves in place and keeps the keyboard focus.
  board.addEventListener("submit", function (event) {
    const form = event.target.closest("form.move-menu");
    if (!form) return;
    event.preventDefault();
    const button = event.submitter;
    if (!button || !button.dataset.move) return;
    const card = form.closest(".task-card");
    const list = card.parentElement;
    const fromStatus = list.dataset.status;
    let params;
    if (button.dataset.move === "up") {
      const prev = prevCard(card);
      if (!prev) return;
      const above = prevCard(prev);
      list.insertBefore(card, prev);
      params = { status: fromStatus, after_id: above ? above.dataset.id : "", before_id: prev.dataset.id };
    } else if (button.dataset.move === "down") {
      const next = nextCard(card);
      if (!next) return;
      const below = nextCard(next);
      list.insertBefore(card, next.nextSibling);
      params = { status: fromStatus, after_id: next.dataset.id, before_id: below ? below.dataset.id : "" };
    } else {
      const target = listOf(button.value);
      if (!target || target === list) return;
      const last = cards(target).pop();
      target.appendChild(card);
      params = { status: button.value, after_id: last ? last.dataset.id : "", before_id: "" };
      refreshList(target);
    }
    refreshList(list);
    const toggle = card.querySelector(".move-toggle");
    if (toggle) {
      const dropdown = window.bootstrap && window.bootstrap.Dropdown.getInstance(toggle);
      if (dropdown) dropdown.hide();
      toggle.focus();
    }
    card.scrollIntoView({ block: "nearest" });
    postMove(card, params, fromStatus);
  });
})();
