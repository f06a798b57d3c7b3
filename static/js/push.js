/* "Enable push on this device" on the notification settings page.
 *
 * Registers /service-worker.js, asks the browser for a push subscription with the server's
 * VAPID public key, and POSTs the subscription JSON to /api/v1/me/push-subscriptions (session
 * cookie + CSRF header). The page then reloads to list the device.
 */
(function () {
  "use strict";

  const panel = document.querySelector("[data-push]");
  if (!panel) return;
  const button = panel.querySelector("[data-push-enable]");
  const status = panel.querySelector("[data-push-status]");

  function say(message, kind) {
    status.textContent = message;
    status.className = "small mt-2 " + (kind === "error" ? "text-danger" : "text-body-secondary");
  }
  function keyBytes(base64url) {
    const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), function (c) { return c.charCodeAt(0); });
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    button.disabled = true;
    say("This browser does not support push notifications. On an iPhone or iPad, add Tracker to the Home Screen first.");
    return;
  }
  if (Notification.permission === "denied") {
    say("Notifications are blocked for this site in your browser's settings.", "error");
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    say("Asking your browser…");
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") throw new Error("Notifications were not allowed for this site.");
      return navigator.serviceWorker.register(panel.dataset.workerUrl, { scope: "/" });
    }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (registration) {
      return registration.pushManager.getSubscription().then(function (existing) {
        return existing || registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(panel.dataset.vapidKey),
        });
      });
    }).then(function (subscription) {
      return fetch(panel.dataset.apiUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": window.Tracker.csrfToken() },
        body: JSON.stringify(subscription.toJSON ? subscription.toJSON() : subscription),
      });
    }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          const detail = Array.isArray(data.detail) ? data.detail.map(function (d) { return d.msg; }).join(" ") : data.detail;
          throw new Error(detail || ("The server answered " + response.status + "."));
        });
      }
      say("Push is on for this device.");
      window.location.reload();
    }).catch(function (error) {
      button.disabled = false;
      say("Push could not be turned on: " + (error && error.message ? error.message : error), "error");
    });
  });
})();
