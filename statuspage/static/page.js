/* statuspage public pages: times in the reader's time zone, and "5 minutes ago" for recent ones;
   the arrow keys along an uptime bar. The HTML carries every time in the site's time zone and
   reads well without this file; the page stays the same for every reader (it is cached), so
   the reader's zone is applied here. */
(function () {
  "use strict";
  if (!window.Intl || !Intl.RelativeTimeFormat || !document.querySelectorAll) return;
  var hm = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
  function fmt(extra) {
    var o = {}, k;
    for (k in hm) o[k] = hm[k];
    for (k in extra) o[k] = extra[k];
    return new Intl.DateTimeFormat("en", o);
  }
  var clock = fmt({}), short = fmt({ month: "short", day: "numeric" });
  var full = fmt({ year: "numeric", month: "short", day: "numeric" });
  var relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  // Relative words only for the last (and next) week; older times read better as dates.
  var UNITS = [["minute", 60, 60], ["hour", 3600, 24], ["day", 86400, 7]];

  function ago(seconds) {
    if (Math.abs(seconds) < 60) return "just now";
    for (var i = 0; i < UNITS.length; i++) {
      var n = Math.round(seconds / UNITS[i][1]);
      if (Math.abs(n) < UNITS[i][2]) return relative.format(n, UNITS[i][0]);
    }
    return "";
  }

  function render() {
    var now = Date.now(), nodes = document.querySelectorAll("time[datetime*='T']");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i], when = new Date(node.getAttribute("datetime"));
      if (isNaN(when)) continue;
      if (!node.hasAttribute("data-site")) node.setAttribute("data-site", node.textContent);
      // The end of a span ("14:05 – 16:20 CET") keeps its clock-only form.
      var endOfSpan = /^\d/.test(node.getAttribute("data-site"));
      var words = endOfSpan ? "" : ago((when - now) / 1000);
      var text = (endOfSpan ? clock : short).format(when);
      node.textContent = words ? text + " (" + words + ")" : text;
      node.title = full.format(when);
    }
  }

  render();
  setInterval(render, 60000);

  // An uptime bar is one stop of the Tab key (today) and the arrow keys, Home and End move
  // along its days, rather than ninety stops per bar. Without this file every day is a stop.
  var STEPS = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity };
  function move(event) {
    var step = STEPS[event.key];
    if (!step || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    var links = [], all = this.querySelectorAll("a");
    for (var i = 0; i < all.length; i++) if (all[i].offsetParent !== null) links.push(all[i]);
    var at = links.indexOf(document.activeElement);
    if (at < 0) return;
    var next = links[Math.max(0, Math.min(links.length - 1, at + step))];
    event.preventDefault();
    links[at].tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
  }
  var bars = document.querySelectorAll(".bar");
  for (var b = 0; b < bars.length; b++) {
    var days = bars[b].querySelectorAll("a");
    for (var d = 0; d < days.length - 1; d++) days[d].tabIndex = -1;
    bars[b].addEventListener("keydown", move);
  }
})();
