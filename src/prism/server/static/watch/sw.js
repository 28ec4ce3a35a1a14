// The web client's service worker: keeps the page's own files so that it opens (and can
// be installed) without a network; always tries the network first, so an updated
// service is picked up at once. Only the page's files: never the API or the stream.
const CACHE = "prism-watch-v1";
const SHELL = [
  "../watch", "watch.js", "protocol.js", "resample.js", "capture-worklet.js", "watch.css",
  "manifest.webmanifest", "icon.svg", "icon-192.png", "icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)));
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((key) => key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const shell = url.pathname.endsWith("/watch") || url.pathname.includes("/watch/");
  if (event.request.method !== "GET" || url.origin !== location.origin || !shell) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
        }
        return response;
      })
      .catch(() => caches.match(url.pathname).then((hit) => hit || Response.error())),
  );
});
