/* Tracker's service worker: shows Web Push notifications and opens their page on a click.
 *
 * Served from /service-worker.js so that its scope is the whole site. The payload is the JSON
 * that tasks/push.py sends (title, body, url, tag), decrypted by the browser.
 */
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { body: event.data ? event.data.text() : "" };
  }
  const title = data.title || "Tracker";
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || "",
    tag: data.tag || undefined,
    renotify: Boolean(data.tag),
    icon: "{{ icon_url }}",
    badge: "{{ icon_url }}",
    data: { url: data.url || "/" },
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin);
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
    for (const client of windows) {
      if (new URL(client.url).origin === target.origin && "focus" in client) {
        return client.navigate(target.href).then(function (c) { return (c || client).focus(); });
      }
    }
    return self.clients.openWindow(target.href);
  }));
});
