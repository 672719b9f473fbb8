/* dreamtrip: a before/after slider on each dream and a full-screen view of any picture.
   The page works without this script: every picture is a plain <img> inside a link to its
   largest web copy, and each dream's caption links its full-size file. This only adds to it.
   No libraries, no network. */
(function () {
  "use strict";

  // Where the slider starts, in percent of the picture showing the original: none, so the
  // dream is seen whole; its labelled handle at the left edge says there is something to drag.
  var COMPARE_START = 0;

  /* ---------------------------------------------------------- before/after slider */

  // Turns <div class="frame" data-before="photo.jpg"> (a dream) into a comparison: the
  // original laid over the dream, cut off at a handle the pointer drags. Under it, a range
  // input holds the value: a slider that keyboards (arrows, Home, End) and screen readers know.
  // The original is offered at the same sizes as the dream (data-before-srcset, data-sizes),
  // so the browser fetches a copy as sharp as the dream it covers, and no sharper.
  function makeComparison(frame) {
    var before = document.createElement("img");
    before.className = "before";
    before.alt = "";                      // decorative: the original is on the page already
    before.setAttribute("aria-hidden", "true");
    before.loading = "lazy";
    before.decoding = "async";
    if (frame.dataset.beforeWidth && frame.dataset.beforeHeight) {
      before.width = Number(frame.dataset.beforeWidth);
      before.height = Number(frame.dataset.beforeHeight);
    }
    // Its AVIF copies (data-before-avif) offered first, as the page offers the dream's; the
    // <img> is in the <picture> before it has a source, so only the chosen file is fetched.
    var shown = frame.dataset.beforeAvif ? inPicture(before, frame.dataset.beforeAvif, frame.dataset.sizes) : before;
    if (frame.dataset.beforeSrcset) {
      before.sizes = frame.dataset.sizes;   // sizes before srcset: the choice needs both
      before.srcset = frame.dataset.beforeSrcset;
    }
    before.src = frame.dataset.before;

    var line = document.createElement("span");
    line.className = "compare-line";
    line.setAttribute("aria-hidden", "true");

    var slider = document.createElement("input");
    slider.type = "range";
    slider.className = "compare";
    slider.min = "0";
    slider.max = "100";
    slider.step = "1";
    slider.value = String(COMPARE_START);
    slider.setAttribute("aria-label", "Compare the layer " + (frame.dataset.layer || "") +
                        " dream with the original photo");

    // What the pointer drags: a pill on the cut, labelled (style.css hides the word on a
    // small picture). Hidden from screen readers, which have the slider.
    var handle = document.createElement("span");
    handle.className = "compare-handle";
    handle.setAttribute("aria-hidden", "true");
    var label = document.createElement("span");
    label.className = "compare-label";
    label.textContent = "Photo";
    handle.appendChild(label);
    handle.title = "Drag to compare with the photo";

    function show() {
      frame.style.setProperty("--split", String(Number(slider.value) / 100));
      frame.classList.toggle("at-rest", Number(slider.value) === 0);
      slider.setAttribute("aria-valuetext", slider.value + "% original");
    }
    slider.addEventListener("input", show);
    dragWithPointer(handle, frame, slider, show);
    frame.appendChild(shown);
    frame.appendChild(line);
    frame.appendChild(slider);
    frame.appendChild(handle);
    frame.classList.add("comparing");
    show();
  }

  function inPicture(image, avifSrcset, sizes) {
    var picture = document.createElement("picture");
    var source = document.createElement("source");
    source.type = "image/avif";
    if (sizes) { source.sizes = sizes; }
    source.srcset = avifSrcset;
    picture.appendChild(source);
    picture.appendChild(image);
    return picture;
  }

  // Only the handle takes the pointer (the rest of the picture opens it full screen). The
  // pointer is captured on it, so a quick move that leaves the handle still drags, and the
  // cut follows the pointer across the picture until the button or finger is let go.
  // (Keyboard and screen readers use the range input's own behaviour.)
  function dragWithPointer(handle, frame, slider, show) {
    handle.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) { return; }
      event.preventDefault();           // no native drag or text selection alongside this one
      slider.focus({preventScroll: true, focusVisible: false});   // the ring is for keyboards
      handle.setPointerCapture(event.pointerId);
    });
    handle.addEventListener("pointermove", function (event) {
      if (!handle.hasPointerCapture(event.pointerId)) { return; }
      var box = frame.getBoundingClientRect();
      var fraction = (event.clientX - box.left) / box.width;
      slider.value = String(Math.round(100 * Math.min(1, Math.max(0, fraction))));
      show();
    });
  }

  /* ---------------------------------------------------------- full-screen view */

  // The view shows a picture's largest web copy, fitted to the window, at the size its pair
  // is fitted (a photo and its dreams open equally large, whatever their files' sizes). A
  // reader can zoom (wheel, pinch, double-click or double-tap, + and -) to twice that, or
  // further up to 100% of the largest file there is: a dream's full-size file, fetched only
  // once the zoom needs more pixels than the copy has. The photo can be laid over a dream
  // (P, or the Photo button) at the same spot and zoom.
  var ZOOM_STEP = 1.5;        // one press of + or -
  var LEAST_ZOOM = 2;         // how far in a reader can always zoom, whatever the files' sizes
  var WHEEL_RATE = 0.002;     // zoom per pixel of wheel: exp(-deltaY * rate)
  var PAN_STEP = 0.15;        // an arrow key pans this much of the view, when zoomed
  var TAP_SLOP = 10;          // px: a press that moves less is a tap, not a drag
  var DOUBLE_TAP_MS = 350;    // two taps this close in time and place are a double tap
  var DOUBLE_TAP_SLOP = 30;

  var links = [];        // every a.zoom on the page, in order: the arrows step through them
  var viewer = null;     // the <dialog>, made on first use
  var current = 0;
  var opener = null;     // focus goes back here when the view closes
  var view = null;       // the picture on show: its size, zoom and position (see show)

  function button(className, label, text) {
    var b = element("button", className);
    b.type = "button";
    b.setAttribute("aria-label", label);
    b.title = label;
    b.textContent = text;
    return b;
  }

  function element(tag, className) {
    var e = document.createElement(tag);
    e.className = className;
    return e;
  }

  function makeViewer() {
    var dialog = element("dialog", "viewer");
    dialog.setAttribute("aria-label", "Full-screen view");
    var figure = document.createElement("figure");
    // The stage is the window onto the picture; the canvas is the picture at its zoom, moved
    // under the stage to pan. The photo lies on the dream in the same canvas, so the two
    // always show the same spot at the same zoom.
    var stage = element("div", "viewer-stage");
    var canvas = element("div", "viewer-canvas");
    var image = element("img", "viewer-image");
    var photo = element("img", "viewer-photo");
    photo.alt = "";
    image.draggable = photo.draggable = false;
    canvas.appendChild(image);
    canvas.appendChild(photo);
    stage.appendChild(canvas);
    var caption = document.createElement("figcaption");
    var captionText = document.createElement("span");
    // A dream's full-size file: the view shows the largest web copy, this opens the dream
    // at the size it was made.
    var full = element("a", "viewer-full");
    caption.appendChild(captionText);
    caption.appendChild(full);
    figure.appendChild(stage);
    figure.appendChild(caption);
    var tools = element("div", "viewer-tools");
    var zoomOut = button("viewer-zoom-out", "Zoom out (-)", "−");
    var level = element("span", "viewer-level");
    level.title = "of the largest file";
    var zoomIn = button("viewer-zoom-in", "Zoom in (+)", "+");
    var toggle = button("viewer-toggle", "Show the photo (P)", "Photo");
    toggle.setAttribute("aria-pressed", "false");
    tools.appendChild(zoomOut);
    tools.appendChild(level);
    tools.appendChild(zoomIn);
    tools.appendChild(toggle);
    var close = button("viewer-close", "Close", "×");
    var previous = button("viewer-prev", "Previous picture", "‹");
    var next = button("viewer-next", "Next picture", "›");
    dialog.appendChild(figure);
    dialog.appendChild(tools);
    dialog.appendChild(previous);
    dialog.appendChild(next);
    dialog.appendChild(close);

    close.addEventListener("click", function () { dialog.close(); });
    previous.addEventListener("click", function () { show(current - 1); });
    next.addEventListener("click", function () { show(current + 1); });
    zoomIn.addEventListener("click", function () { zoomBy(ZOOM_STEP); });
    zoomOut.addEventListener("click", function () { zoomBy(1 / ZOOM_STEP); });
    toggle.addEventListener("click", function () { showPhoto(!view.showingPhoto); });
    // A click on the dark around the picture closes, as in every photo viewer; not at the
    // end of a drag, and not while zoomed in, where the dark is easily hit by mistake. (The
    // stage captures the pointer, so a click on the picture may name the stage: ask where.)
    dialog.addEventListener("click", function (event) {
      var dark = event.target === dialog || event.target === figure ||
                 (event.target === stage && !inside(canvas, event));
      if (dark && !view.dragged && view.scale <= 1.001) { dialog.close(); }
    });
    dialog.addEventListener("keydown", onKey);
    dialog.addEventListener("close", function () {
      document.documentElement.classList.remove("viewing");
      if (opener) { opener.focus(); }
    });
    image.addEventListener("load", function () { if (!view.base) { fit(); } });
    stage.addEventListener("wheel", onWheel, {passive: false});
    stage.addEventListener("pointerdown", onPointerDown);
    stage.addEventListener("pointermove", onPointerMove);
    stage.addEventListener("pointerup", onPointerUp);
    stage.addEventListener("pointercancel", onPointerUp);
    window.addEventListener("resize", function () { if (dialog.open && view.base) { refit(); } });
    document.body.appendChild(dialog);
    return {dialog: dialog, stage: stage, canvas: canvas, image: image, photo: photo,
            captionText: captionText, full: full, close: close, previous: previous, next: next,
            zoomIn: zoomIn, zoomOut: zoomOut, level: level, toggle: toggle};
  }

  function show(index) {
    current = (index + links.length) % links.length;
    var link = links[current];
    var thumbnail = link.querySelector("img");
    view = {base: 0, scale: 1, x: 0, y: 0, pointers: {}, gesture: null, lastTap: null,
            dragged: false, showingPhoto: false, fullAsked: false,
            full: link.dataset.full || null, fullWidth: Number(link.dataset.fullWidth) || 0,
            pairWidth: Number(link.dataset.pairWidth) || 0,
            photo: link.dataset.photo || null};
    viewer.canvas.classList.remove("ready");   // shown once laid out: see fit
    viewer.photo.removeAttribute("src");       // fetched when first asked for
    viewer.image.src = link.getAttribute("href");
    viewer.image.alt = thumbnail ? thumbnail.alt : "";
    // textContent, never innerHTML: the caption is the traveller's text, shown as text.
    viewer.captionText.textContent = link.dataset.caption || "";
    viewer.full.hidden = !view.full;           // photos have no file larger than the view
    if (view.full) {
      viewer.full.href = view.full;
      viewer.full.textContent = link.dataset.fullLabel || "full size";
    }
    viewer.toggle.hidden = !view.photo;
    showPhoto(false);
    render();
  }

  function open(index) {
    if (!viewer) { viewer = makeViewer(); }
    var single = links.length < 2;
    viewer.previous.hidden = single;
    viewer.next.hidden = single;
    opener = links[index];
    show(index);
    document.documentElement.classList.add("viewing");
    viewer.dialog.showModal();
    viewer.close.focus();
  }

  /* ---------------------------------------------------------- zoom and pan */

  // The canvas at scale 1 is the picture fitted to the stage, never larger than the pair's
  // largest pixels (a thumbnail's pair scaled up would only show its blur); at `max` it is
  // twice that, or as wide as the largest file in CSS pixels (100%) when that is more.
  function fit() {
    var box = viewer.stage.getBoundingClientRect();
    var width = viewer.image.naturalWidth, height = viewer.image.naturalHeight;
    view.aspect = height / width;
    view.base = Math.min(box.width, box.height / view.aspect, Math.max(view.pairWidth, width));
    view.max = Math.max(LEAST_ZOOM, Math.max(view.fullWidth, width) / view.base);
    view.scale = 1;
    render();
    viewer.canvas.classList.add("ready");
  }

  // The window changed size (a phone turned): fit again, keeping the zoom and the middle spot.
  function refit() {
    var spot = pictureFraction({x: view.stageWidth / 2, y: view.stageHeight / 2});
    var width = view.base * view.scale;
    fit();
    place(width / view.base, spot, {x: view.stageWidth / 2, y: view.stageHeight / 2});
  }

  function inside(element, event) {
    var box = element.getBoundingClientRect();
    return event.clientX >= box.left && event.clientX <= box.right &&
           event.clientY >= box.top && event.clientY <= box.bottom;
  }

  function stagePoint(clientX, clientY) {
    var box = viewer.stage.getBoundingClientRect();
    return {x: clientX - box.left, y: clientY - box.top};
  }

  // Where a point of the stage falls on the picture, as fractions of its width and height.
  function pictureFraction(point) {
    var width = view.base * view.scale;
    return {u: (point.x - view.x) / width, v: (point.y - view.y) / (width * view.aspect)};
  }

  // The zoom `scale`, with the picture's spot (fractions) under the stage's `point`.
  function place(scale, spot, point) {
    view.scale = Math.min(view.max, Math.max(1, scale));
    var width = view.base * view.scale;
    view.x = point.x - spot.u * width;
    view.y = point.y - spot.v * width * view.aspect;
    render();
  }

  // Zoom about a point of the stage: what is under it stays under it.
  function zoomAt(scale, point) {
    if (!view.base) { return; }
    place(scale, pictureFraction(point), point);
  }

  function zoomBy(factor) {
    var box = viewer.stage.getBoundingClientRect();
    zoomAt(view.scale * factor, {x: box.width / 2, y: box.height / 2});
  }

  function panBy(dx, dy) {
    view.x += dx;
    view.y += dy;
    render();
  }

  // Draws the canvas: centred where it is smaller than the stage, else kept over it.
  function render() {
    var box = viewer.stage.getBoundingClientRect();
    view.stageWidth = box.width;     // the size it was drawn for (see refit)
    view.stageHeight = box.height;
    var width = view.base * view.scale, height = width * (view.aspect || 0);
    view.x = width <= box.width ? (box.width - width) / 2 : Math.min(0, Math.max(box.width - width, view.x));
    view.y = height <= box.height ? (box.height - height) / 2 : Math.min(0, Math.max(box.height - height, view.y));
    var style = viewer.canvas.style;
    style.left = view.x + "px";
    style.top = view.y + "px";
    style.width = width + "px";
    style.height = height + "px";
    var zoomed = view.scale > 1.001, zoomable = view.base > 0 && view.max > 1.001;
    viewer.stage.classList.toggle("zoomed", zoomed);
    viewer.stage.classList.toggle("zoomable", zoomable);
    viewer.zoomIn.disabled = !zoomable || view.scale >= view.max - 0.001;
    viewer.zoomOut.disabled = !zoomed;
    var largest = Math.max(view.fullWidth, viewer.image.naturalWidth);
    viewer.level.textContent = view.base ? Math.round(100 * width / largest) + "%" : "";
    if (zoomed) { fetchFull(); }
  }

  // The full-size file, once the zoom draws the picture wider than the copy on show has
  // pixels. It replaces the copy only when it has arrived, so the view never goes blank.
  function fetchFull() {
    var wanted = view.base * view.scale * (window.devicePixelRatio || 1);
    if (!view.full || view.fullAsked || wanted <= viewer.image.naturalWidth) { return; }
    view.fullAsked = true;
    var asked = view, loader = new Image();
    loader.onload = function () { if (view === asked) { viewer.image.src = asked.full; } };
    loader.src = asked.full;
  }

  function showPhoto(on) {
    view.showingPhoto = on && !!view.photo;
    if (view.showingPhoto && !viewer.photo.getAttribute("src")) { viewer.photo.src = view.photo; }
    viewer.stage.classList.toggle("showing-photo", view.showingPhoto);
    viewer.toggle.textContent = view.showingPhoto ? "Dream" : "Photo";
    viewer.toggle.setAttribute("aria-pressed", String(view.showingPhoto));
    var label = view.showingPhoto ? "Show the dream (P)" : "Show the photo (P)";
    viewer.toggle.setAttribute("aria-label", label);
    viewer.toggle.title = label;
  }

  function onWheel(event) {
    event.preventDefault();   // the page behind does not scroll; a trackpad pinch comes here too
    var pixels = event.deltaY * (event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? 400 : 1);
    zoomAt(view.scale * Math.exp(-pixels * WHEEL_RATE), stagePoint(event.clientX, event.clientY));
  }

  // One pointer pans; two pinch (the spot under their middle stays there, at the zoom their
  // spread asks for); a tap that follows a tap toggles between fitted and 100% at that spot.
  function onPointerDown(event) {
    if (event.pointerType === "mouse" && event.button !== 0) { return; }
    event.preventDefault();   // no native image drag, no text selection
    viewer.stage.setPointerCapture(event.pointerId);
    view.pointers[event.pointerId] = stagePoint(event.clientX, event.clientY);
    view.dragged = false;
    startGesture(true);
  }

  function startGesture(canTap) {
    var ids = Object.keys(view.pointers);
    if (ids.length === 1) {
      var at = view.pointers[ids[0]];
      view.gesture = {pan: true, last: at, start: at, tap: canTap};
    } else if (ids.length === 2) {
      var a = view.pointers[ids[0]], b = view.pointers[ids[1]];
      var middle = {x: (a.x + b.x) / 2, y: (a.y + b.y) / 2};
      view.gesture = {pinch: true, spread: Math.max(1, Math.hypot(a.x - b.x, a.y - b.y)),
                      scale: view.scale, spot: pictureFraction(middle)};
    }
  }

  function onPointerMove(event) {
    if (!(event.pointerId in view.pointers)) { return; }
    var at = stagePoint(event.clientX, event.clientY);
    view.pointers[event.pointerId] = at;
    var gesture = view.gesture;
    if (gesture && gesture.pinch) {
      var ids = Object.keys(view.pointers), a = view.pointers[ids[0]], b = view.pointers[ids[1]];
      var spread = Math.hypot(a.x - b.x, a.y - b.y);
      place(gesture.scale * spread / gesture.spread, gesture.spot, {x: (a.x + b.x) / 2, y: (a.y + b.y) / 2});
    } else if (gesture && gesture.pan) {
      if (Math.hypot(at.x - gesture.start.x, at.y - gesture.start.y) > TAP_SLOP) {
        gesture.tap = false;
        view.dragged = true;
        viewer.stage.classList.add("dragging");
      }
      panBy(at.x - gesture.last.x, at.y - gesture.last.y);
      gesture.last = at;
    }
  }

  function onPointerUp(event) {
    if (!(event.pointerId in view.pointers)) { return; }
    var gesture = view.gesture, at = view.pointers[event.pointerId];
    delete view.pointers[event.pointerId];
    viewer.stage.classList.remove("dragging");
    if (gesture && gesture.pinch) {
      view.dragged = true;
      startGesture(false);    // the finger left on the screen pans on, and is no tap
    } else if (gesture && gesture.tap && event.type === "pointerup") {
      view.gesture = null;
      tapped(at);
    } else {
      view.gesture = null;
    }
  }

  function tapped(at) {
    var last = view.lastTap, now = Date.now();
    if (last && now - last.time < DOUBLE_TAP_MS && Math.hypot(at.x - last.x, at.y - last.y) < DOUBLE_TAP_SLOP) {
      view.lastTap = null;
      zoomAt(view.scale > 1.001 ? 1 : view.max, at);
    } else {
      view.lastTap = {x: at.x, y: at.y, time: now};
    }
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }   // the browser's own zoom
    var box = viewer.stage.getBoundingClientRect(), zoomed = view.scale > 1.001;
    var pans = {ArrowLeft: [1, 0], ArrowRight: [-1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1]};
    var key = event.key;
    if (zoomed && pans[key]) {          // zoomed in, the arrows look around the picture
      panBy(pans[key][0] * PAN_STEP * box.width, pans[key][1] * PAN_STEP * box.height);
    } else if (key === "ArrowLeft") {
      show(current - 1);
    } else if (key === "ArrowRight") {
      show(current + 1);
    } else if (key === "+" || key === "=") {
      zoomBy(ZOOM_STEP);
    } else if (key === "-" || key === "_") {
      zoomBy(1 / ZOOM_STEP);
    } else if (key === "0") {
      zoomBy(1 / view.scale);           // back to fitted
    } else if ((key === "p" || key === "P") && view.photo) {
      showPhoto(!view.showingPhoto);
    } else {
      return;
    }
    event.preventDefault();
  }

  function onZoomClick(event) {
    // Let ctrl/cmd/shift/middle clicks do what they always do: open the file elsewhere.
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    open(links.indexOf(event.currentTarget));
  }

  /* ---------------------------------------------------------- dream loops */

  // A dream loop plays by itself, muted and looping, while it is on screen (preload="none":
  // a loop further down costs the reader no bytes until it is near), unless the reader asks
  // for reduced motion: then it stays its poster (the dream) with the controls, and stops if
  // the reader asks while it plays. A loop the reader paused stays paused. The page never
  // says `autoplay`: without this script nothing moves.
  function startLoops() {
    var still = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : null;
    var loops = document.querySelectorAll("video.dream-loop");
    var near = typeof IntersectionObserver === "function" ? new IntersectionObserver(function (entries) {
      for (var i = 0; i < entries.length; i++) {
        entries[i].target.dreamtripNear = entries[i].isIntersecting;
        follow(entries[i].target);
      }
    }, { rootMargin: "200px 0px" }) : null;
    function follow(video) {
      var moving = !(still && still.matches) && !video.dreamtripPausedByReader && (!near || video.dreamtripNear);
      if (!moving) {
        if (!video.paused) { video.dreamtripPausing = true; video.pause(); }
        return;
      }
      video.muted = true;                 // (browsers start only a muted video by themselves)
      var playing = video.play();
      if (playing && playing.catch) { playing.catch(function () {}); }  // refused: the controls stay
    }
    function followAll() { for (var i = 0; i < loops.length; i++) { follow(loops[i]); } }
    for (var i = 0; i < loops.length; i++) {
      loops[i].addEventListener("pause", function (event) {   // the reader's pause, not ours
        var video = event.currentTarget;
        if (!video.dreamtripPausing) { video.dreamtripPausedByReader = true; }
        video.dreamtripPausing = false;
      });
      loops[i].addEventListener("play", function (event) { event.currentTarget.dreamtripPausedByReader = false; });
      if (near) { near.observe(loops[i]); }
    }
    followAll();
    if (still && still.addEventListener) { still.addEventListener("change", followAll); }
  }

  function start() {
    document.documentElement.classList.add("js");  // shows the hints that need this script
    startLoops();
    var frames = document.querySelectorAll(".frame[data-before]");
    for (var i = 0; i < frames.length; i++) { makeComparison(frames[i]); }
    if (typeof HTMLDialogElement !== "function") { return; }  // old browser: links open files
    links = Array.prototype.slice.call(document.querySelectorAll("a.zoom"));
    for (var j = 0; j < links.length; j++) { links[j].addEventListener("click", onZoomClick); }
  }

  start();  // the script is deferred: the document is parsed by now
}());
