/*
 * The admin index's dashboard (templates/admin/outreach_index.html): each chart
 * fetches its own JSON (one request each, outreach/admin/dashboard.py) and is
 * drawn here as inline SVG. No library and no CDN: the admin works offline.
 *
 * The 24 hours / 7 days buttons reload every chart for that range. Each chart
 * keeps a text equivalent (a table or a sentence) next to its SVG, and the SVG
 * carries an aria-label, so the numbers are there for a screen reader too.
 * Colours come from the admin's CSS variables (outreach/dashboard.css), so the
 * dark theme applies.
 */
(function () {
  "use strict";

  var root = document.getElementById("outreach-dashboard");
  var urlsNode = document.getElementById("dashboard-urls");
  if (!root || !urlsNode || !window.fetch) {
    return;
  }
  var urls = JSON.parse(urlsNode.textContent);
  var SVG = "http://www.w3.org/2000/svg";
  var WIDTH = 600;
  var generation = 0;

  // --- helpers ---------------------------------------------------------------
  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function html(name, attrs, text) {
    var node = document.createElement(name);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function svg(height, label) {
    return el("svg", {
      viewBox: "0 0 " + WIDTH + " " + height,
      width: "100%",
      role: "img",
      "aria-label": label,
      class: "dash-svg",
    });
  }

  function table(caption, head, rows) {
    var t = html("table", { class: "dash-table" });
    t.appendChild(html("caption", {}, caption));
    var tr = html("tr");
    head.forEach(function (cell) {
      tr.appendChild(html("th", { scope: "col" }, cell));
    });
    t.appendChild(html("thead")).appendChild(tr);
    var body = t.appendChild(html("tbody"));
    rows.forEach(function (row) {
      var r = body.appendChild(html("tr"));
      row.forEach(function (cell, i) {
        r.appendChild(html(i ? "td" : "th", i ? {} : { scope: "row" }, cell));
      });
    });
    return t;
  }

  function sum(values) {
    return values.reduce(function (a, b) {
      return a + b;
    }, 0);
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) {
      return "—";
    }
    var minutes = Math.round(seconds / 60);
    if (minutes < 1) {
      return Math.round(seconds) + " s";
    }
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    var rest = minutes % 60;
    if (days) {
      return days + " d " + hours + " h";
    }
    return hours ? hours + " h " + rest + " min" : rest + " min";
  }

  function rangeText(range) {
    return range === "7d" ? "the last 7 days" : "the last 24 hours";
  }

  function formatter(zone, options) {
    try {
      return new Intl.DateTimeFormat(undefined, Object.assign({ timeZone: zone }, options));
    } catch (e) {
      return new Intl.DateTimeFormat(undefined, options); // an unknown zone: the browser's
    }
  }

  function empty(body, text) {
    body.appendChild(html("p", { class: "dash-empty" }, text));
  }

  // Horizontal bars, one row per item, each split into segments.
  function hbars(items, segments, label) {
    var row = 26;
    var left = 190;
    var right = 50;
    var height = items.length * row + 8;
    var chart = svg(height, label);
    var max = Math.max.apply(
      null,
      items.map(function (item) {
        return sum(
          segments.map(function (s) {
            return item[s.key];
          })
        );
      }).concat([1])
    );
    var scale = (WIDTH - left - right) / max;
    items.forEach(function (item, i) {
      var y = 4 + i * row;
      var name = item.name.length > 28 ? item.name.slice(0, 27) + "…" : item.name;
      chart.appendChild(el("text", { x: left - 8, y: y + 16, class: "dash-label", "text-anchor": "end" }, name));
      var x = left;
      segments.forEach(function (s) {
        var value = item[s.key];
        if (!value) {
          return;
        }
        var rect = el("rect", {
          x: x,
          y: y + 3,
          width: Math.max(value * scale, 1),
          height: row - 8,
          class: "dash-bar " + s.cls,
        });
        rect.appendChild(el("title", {}, item.name + " — " + s.label + ": " + value));
        chart.appendChild(rect);
        x += value * scale;
      });
      var total = sum(
        segments.map(function (s) {
          return item[s.key];
        })
      );
      chart.appendChild(el("text", { x: x + 6, y: y + 16, class: "dash-value" }, total));
    });
    return chart;
  }

  function legend(entries) {
    var list = html("ul", { class: "dash-legend" });
    entries.forEach(function (entry) {
      var li = list.appendChild(html("li"));
      li.appendChild(html("span", { class: "dash-swatch " + entry.cls, "aria-hidden": "true" }));
      li.appendChild(document.createTextNode(entry.label));
    });
    return list;
  }

  // --- charts ----------------------------------------------------------------
  // (a) completed (upwards) and failed (downwards) per hour, stacked by type.
  function drawActivity(body, data) {
    var n = data.buckets.length;
    var series = data.series;
    if (!series.length) {
      empty(body, "No action completed or failed in " + rangeText(data.range) + ".");
      return 0;
    }
    var left = 40;
    var plot = WIDTH - left - 10;
    var up = 130;
    var down = 60;
    var top = 10;
    var axis = top + up;
    var height = axis + down + 34;
    var step = plot / n;
    var barWidth = Math.max(step - (n > 48 ? 0.5 : 2), 1);
    var completed = [];
    var failed = [];
    for (var h = 0; h < n; h++) {
      completed.push(sum(series.map(function (s) { return s.completed[h]; })));
      failed.push(sum(series.map(function (s) { return s.failed[h]; })));
    }
    // An even top (1 or 2k) so that the middle grid line is a whole number too.
    var max = Math.max.apply(null, completed.concat(failed).concat([1]));
    max = max <= 1 ? 1 : 2 * Math.ceil(max / 2);
    var scaleUp = up / max;
    var scaleDown = down / max;
    var label =
      "Actions completed and failed per hour, " + rangeText(data.range) + ": " +
      data.totals.completed + " completed, " + data.totals.failed + " failed.";
    var chart = svg(height, label);
    // Grid and y axis: 0, max/2 and max completed; max failed below.
    // (no middle line when the top is 1: an action is not halved)
    (max > 1 ? [0, 0.5, 1] : [0, 1]).forEach(function (f) {
      var y = axis - f * up;
      chart.appendChild(el("line", { x1: left, x2: WIDTH - 10, y1: y, y2: y, class: "dash-grid" }));
      chart.appendChild(
        el("text", { x: left - 4, y: y + 4, class: "dash-tick", "text-anchor": "end" }, f * max)
      );
    });
    chart.appendChild(
      el("text", { x: left - 4, y: axis + down, class: "dash-tick", "text-anchor": "end" }, Math.round(max))
    );
    chart.appendChild(el("line", { x1: left, x2: WIDTH - 10, y1: axis + down, y2: axis + down, class: "dash-grid" }));
    var hourLabel = formatter(data.timezone, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    var dayLabel = formatter(data.timezone, { month: "short", day: "numeric" });
    var hourOf = formatter(data.timezone, { hour: "numeric", hourCycle: "h23" });
    for (var b = 0; b < n; b++) {
      var x = left + b * step;
      var when = new Date(data.buckets[b]);
      var yUp = axis;
      var yDown = axis;
      series.forEach(function (s, i) {
        var c = s.completed[b];
        var f = s.failed[b];
        var text = hourLabel.format(when) + " " + s.label;
        if (c) {
          var hUp = c * scaleUp;
          yUp -= hUp;
          var r = el("rect", { x: x, y: yUp, width: barWidth, height: hUp, class: "dash-bar dash-c" + (i % 7), "data-status": "completed" });
          r.appendChild(el("title", {}, text + " completed: " + c));
          chart.appendChild(r);
        }
        if (f) {
          var hDown = f * scaleDown;
          var rf = el("rect", { x: x, y: yDown, width: barWidth, height: hDown, class: "dash-bar dash-failed dash-c" + (i % 7), "data-status": "failed" });
          rf.appendChild(el("title", {}, text + " failed: " + f));
          chart.appendChild(rf);
          yDown += hDown;
        }
      });
      var localHour = parseInt(hourOf.format(when), 10) % 24;
      // Ticks at local midnights over 7 days, every third local hour over 24 hours.
      if (n > 48 ? localHour === 0 : localHour % 3 === 0) {
        chart.appendChild(
          el("text", { x: x, y: height - 8, class: "dash-tick" }, (n > 48 ? dayLabel : hourLabel).format(when))
        );
      }
    }
    chart.appendChild(el("line", { x1: left, x2: WIDTH - 10, y1: axis, y2: axis, class: "dash-axis" }));
    body.appendChild(chart);
    var key = legend(series.map(function (s, i) { return { label: s.label, cls: "dash-c" + (i % 7) }; }));
    key.insertBefore(html("li", {}, "Above the line completed, below it failed:"), key.firstChild);
    body.appendChild(key);
    body.appendChild(
      table(
        "Totals by type, " + rangeText(data.range) + " (hours in " + data.timezone + ")",
        ["Type", "Completed", "Failed"],
        series.map(function (s) { return [s.label, sum(s.completed), sum(s.failed)]; })
      )
    );
    return series.length;
  }

  // (b) the approval queue now, and the range's decisions.
  function drawQueue(body, data) {
    var stats = [
      { name: "Awaiting approval", value: data.depth, id: "depth" },
      { name: "Overdue", value: data.overdue, id: "overdue" },
      { name: "Decided", value: data.decided, id: "decided" },
      { name: "Median time to decision", value: duration(data.median_seconds), id: "median" },
    ];
    var label =
      data.depth + " awaiting approval (" + data.overdue + " overdue); " + data.decided +
      " decided in " + rangeText(data.range) + ", median time to decision " +
      duration(data.median_seconds) + ".";
    var chart = svg(70, label);
    var cell = WIDTH / stats.length;
    stats.forEach(function (s, i) {
      var x = i * cell + cell / 2;
      chart.appendChild(el("rect", { x: i * cell + 4, y: 4, width: cell - 8, height: 62, rx: 4, class: "dash-tile" }));
      chart.appendChild(
        el("text", { x: x, y: 36, class: "dash-big" + (s.id === "overdue" && s.value ? " dash-alert" : ""), "text-anchor": "middle", "data-stat": s.id }, s.value)
      );
      chart.appendChild(el("text", { x: x, y: 56, class: "dash-tick", "text-anchor": "middle" }, s.name));
    });
    body.appendChild(chart);
    var p = body.appendChild(html("p", { class: "dash-note" }));
    p.appendChild(html("a", { href: data.url }, "Open the approval queue"));
    p.appendChild(document.createTextNode(" · " + label));
    return 1;
  }

  // (c) decisions per reviewer.
  function drawReviewers(body, data) {
    if (!data.reviewers.length) {
      empty(body, "No decision in " + rangeText(data.range) + ".");
      return 0;
    }
    var items = data.reviewers.map(function (r) {
      return { name: r.reviewer, approved: r.approved, rejected: r.rejected };
    });
    var segments = [
      { key: "approved", label: "approved", cls: "dash-approved" },
      { key: "rejected", label: "rejected", cls: "dash-rejected" },
    ];
    body.appendChild(hbars(items, segments, "Decisions per reviewer, " + rangeText(data.range)));
    body.appendChild(legend([
      { label: "Approved (or edited and approved)", cls: "dash-approved" },
      { label: "Rejected", cls: "dash-rejected" },
    ]));
    body.appendChild(
      table(
        "Decisions per reviewer (the " + data.limit + " busiest)",
        ["Reviewer", "Approved", "Rejected"],
        items.map(function (r) { return [r.name, r.approved, r.rejected]; })
      )
    );
    return items.length;
  }

  // (d) the action waiting longest, with a link to its review page.
  function drawOldest(body, data) {
    var action = data.action;
    if (!action) {
      empty(body, "Nothing awaits approval.");
      return 0;
    }
    var p = body.appendChild(html("p", { class: "dash-oldest" }));
    p.appendChild(html("a", { href: action.url, id: "dash-oldest-link" }, action.public_id));
    p.appendChild(
      document.createTextNode(
        " (" + action.type + ", " + action.workspace + ") has waited " +
        duration(action.waiting_seconds) + " for a decision."
      )
    );
    return 1;
  }

  // (e) failures by failure code.
  function drawFailures(body, data) {
    if (!data.failures.length) {
      empty(body, "No action failed in " + rangeText(data.range) + ".");
      return 0;
    }
    var items = data.failures.map(function (f) {
      return { name: f.label + (f.code ? " (" + f.code + ")" : ""), count: f.count };
    });
    body.appendChild(
      hbars(items, [{ key: "count", label: "failed", cls: "dash-rejected" }], "Failures by reason, " + rangeText(data.range))
    );
    body.appendChild(
      table("Failures by reason", ["Reason", "Failed"], items.map(function (f) { return [f.name, f.count]; }))
    );
    return items.length;
  }

  var DRAW = {
    activity: drawActivity,
    queue: drawQueue,
    reviewers: drawReviewers,
    oldest: drawOldest,
    failures: drawFailures,
  };

  // --- loading ---------------------------------------------------------------
  function load(range) {
    generation += 1;
    var mine = generation;
    root.setAttribute("data-range", range);
    root.querySelectorAll("[data-range-button]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-range-button") === range));
    });
    root.querySelectorAll("[data-chart]").forEach(function (figure) {
      var chart = figure.getAttribute("data-chart");
      var body = figure.querySelector(".dash-body");
      figure.setAttribute("aria-busy", "true");
      figure.setAttribute("data-state", "loading");
      fetch(urls[chart] + "?range=" + encodeURIComponent(range), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
          if (mine !== generation) {
            return; // the range changed meanwhile: a newer answer draws this chart
          }
          body.textContent = "";
          var drawn = DRAW[chart](body, data);
          figure.setAttribute("data-items", String(drawn));
          figure.setAttribute("data-range", data.range);
          figure.setAttribute("data-state", "ready");
          figure.removeAttribute("aria-busy");
        })
        .catch(function (error) {
          if (mine !== generation) {
            return;
          }
          body.textContent = "";
          empty(body, "Could not load this chart (" + error.message + ").");
          figure.setAttribute("data-state", "error");
          figure.removeAttribute("aria-busy");
        });
    });
  }

  root.querySelectorAll("[data-range-button]").forEach(function (button) {
    button.addEventListener("click", function () {
      load(button.getAttribute("data-range-button"));
    });
  });
  load(root.getAttribute("data-range") || "24h");
})();
