// A fake browser for the tracker: a manual clock and timers, a scripted fetch, a recording
// sendBeacon, an in-memory localStorage and a window/document that dispatch real events.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
export const Clickstream = require("../clickstream.js");

export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function response(status, body = { accepted: 0, rejected: [] }, headers = {}) {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return {
    status,
    headers: { get: (name) => lower[name.toLowerCase()] ?? null },
    json: async () => body,
  };
}

export function makeBrowser({ start = Date.UTC(2026, 10, 25, 12, 0, 0), storage, beacon = true, beaconResult = true } = {}) {
  const env = {
    time: start,
    timers: [],
    nextTimer: 1,
    requests: [],
    beacons: [],
    errors: [],
    responses: [],
    storage: storage ?? Clickstream.memoryStorage(),
  };
  // Each request takes the next scripted answer: a response, an Error (network failure),
  // or nothing (200 accepting everything).
  env.fetch = async (url, init) => {
    const body = JSON.parse(init.body);
    env.requests.push({ url, init, body, at: env.time });
    const next = env.responses.shift();
    if (next instanceof Error) throw next;
    return next ?? response(200, { accepted: body.events.length, rejected: [] });
  };
  env.sendBeacon = (url, data) => {
    env.beacons.push({ url, data, body: JSON.parse(data), at: env.time });
    return typeof beaconResult === "function" ? beaconResult(data) : beaconResult;
  };
  env.setTimeout = (fn, ms) => {
    const id = env.nextTimer++;
    env.timers.push({ id, at: env.time + Math.max(0, ms), fn });
    return id;
  };
  env.clearTimeout = (id) => {
    env.timers = env.timers.filter((t) => t.id !== id);
  };
  env.document = Object.assign(new EventTarget(), {
    visibilityState: "visible",
    referrer: "https://www.google.com/",
    title: "Demo shop",
  });
  env.window = Object.assign(new EventTarget(), { document: env.document });
  env.location = { href: "http://127.0.0.1:8080/index.html?utm_source=google&utm_medium=cpc" };

  env.tracker = (options = {}) =>
    Clickstream.createTracker({
      fetch: env.fetch,
      sendBeacon: beacon ? env.sendBeacon : undefined,
      storage: env.storage,
      now: () => env.time,
      random: () => 1,
      setTimeout: env.setTimeout,
      clearTimeout: env.clearTimeout,
      window: env.window,
      document: env.document,
      navigator: null,
      location: env.location,
      onError: (e) => env.errors.push(e),
      ...options,
    });

  // Let pending promise callbacks (a fetch settling, its response parsed) run.
  env.settle = async () => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };

  // Move the clock forward, firing due timers in order and letting each one's work settle.
  env.advance = async (ms) => {
    const until = env.time + ms;
    for (;;) {
      await env.settle();
      const due = env.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      env.timers = env.timers.filter((t) => t !== due);
      env.time = Math.max(env.time, due.at);
      due.fn();
    }
    env.time = until;
    await env.settle();
  };

  env.hide = () => {
    env.document.visibilityState = "hidden";
    env.document.dispatchEvent(new Event("visibilitychange"));
  };

  env.sentEvents = () => env.requests.flatMap((r) => r.body.events);
  return env;
}
