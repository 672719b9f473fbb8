/* dreamtrip: a before/after slider on each dream and a full-screen view of any picture.
   The page works without this script: every picture is a plain <img> inside a link to its
   largest web copy, and each dream's caption links its full-size file. This only adds to it.
   No libraries, no network. */
(function () {
  "use strict";

  // Where the slider starts, in percent of the picture showing the original: a sliver,
  // so the dream is seen first and the handle says there is something to drag.
  var COMPARE_START = 0;

  /* ---------------------------------------------------------- before/after slider */

  // Turns <div class="frame" data-before="photo.jpg"> (a dream) into a comparison: the
  // original laid over the dream, cut off at the handle of a range input. A range input is
  // a slider that mouse, touch, keyboard (arrows, Home, End) and screen readers all know.
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

    function show() {
      frame.style.setProperty("--split", String(Number(slider.value) / 100));
      slider.setAttribute("aria-valuetext", slider.value + "% original");
    }
    slider.addEventListener("input", show);
    dragWithPointer(slider, show);
    frame.appendChild(shown);
    frame.appendChild(line);
    frame.appendChild(slider);
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

  // Only the slider's handle takes the pointer (see style.css), and the browser's own drag
  // ends as soon as a quick move leaves the handle. So the drag is done here: the pointer is
  // captured on the handle and the value follows it until the button or finger is let go.
  // (Keyboard and screen readers still use the range input's own behaviour.)
  function dragWithPointer(slider, show) {
    slider.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) { return; }
      event.preventDefault();           // no native drag alongside this one
      slider.focus();
      slider.setPointerCapture(event.pointerId);
    });
    slider.addEventListener("pointermove", function (event) {
      if (!slider.hasPointerCapture(event.pointerId)) { return; }
      var box = slider.getBoundingClientRect();
      var grip = box.height / 2;        // the handle is as tall as the slider, and round
      var fraction = (event.clientX - box.left - grip) / (box.width - 2 * grip);
      slider.value = String(Math.round(100 * Math.min(1, Math.max(0, fraction))));
      show();
    });
  }

  /* ---------------------------------------------------------- full-screen view */

  var links = [];        // every a.zoom on the page, in order: the arrows step through them
  var viewer = null;     // the <dialog>, made on first use
  var current = 0;
  var opener = null;     // focus goes back here when the view closes

  function button(className, label, text) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.setAttribute("aria-label", label);
    b.textContent = text;
    return b;
  }

  function makeViewer() {
    var dialog = document.createElement("dialog");
    dialog.className = "viewer";
    dialog.setAttribute("aria-label", "Full-screen view");
    var figure = document.createElement("figure");
    var image = document.createElement("img");
    var caption = document.createElement("figcaption");
    var captionText = document.createElement("span");
    // A dream's full-size file: the view shows the largest web copy, this opens the dream
    // at the size it was made.
    var full = document.createElement("a");
    full.className = "viewer-full";
    caption.appendChild(captionText);
    caption.appendChild(full);
    figure.appendChild(image);
    figure.appendChild(caption);
    var close = button("viewer-close", "Close", "×");
    var previous = button("viewer-prev", "Previous picture", "‹");
    var next = button("viewer-next", "Next picture", "›");
    dialog.appendChild(figure);
    dialog.appendChild(previous);
    dialog.appendChild(next);
    dialog.appendChild(close);

    close.addEventListener("click", function () { dialog.close(); });
    previous.addEventListener("click", function () { show(current - 1); });
    next.addEventListener("click", function () { show(current + 1); });
    // A click on the picture or the dark around it closes, as in every photo viewer.
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog || event.target === image || event.target === figure) {
        dialog.close();
      }
    });
    dialog.addEventListener("keydown", function (event) {
      if (event.key === "ArrowLeft") { show(current - 1); event.preventDefault(); }
      if (event.key === "ArrowRight") { show(current + 1); event.preventDefault(); }
    });
    dialog.addEventListener("close", function () {
      document.documentElement.classList.remove("viewing");
      if (opener) { opener.focus(); }
    });
    document.body.appendChild(dialog);
    return {dialog: dialog, image: image, captionText: captionText, full: full, close: close,
            previous: previous, next: next};
  }

  function show(index) {
    current = (index + links.length) % links.length;
    var link = links[current];
    var thumbnail = link.querySelector("img");
    viewer.image.src = link.getAttribute("href");
    viewer.image.alt = thumbnail ? thumbnail.alt : "";
    // textContent, never innerHTML: the caption is the traveller's text, shown as text.
    viewer.captionText.textContent = link.dataset.caption || "";
    viewer.full.hidden = !link.dataset.full;   // photos have no file larger than the view
    if (link.dataset.full) {
      viewer.full.href = link.dataset.full;
      viewer.full.textContent = link.dataset.fullLabel || "full size";
    }
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

  function onZoomClick(event) {
    // Let ctrl/cmd/shift/middle clicks do what they always do: open the file elsewhere.
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    open(links.indexOf(event.currentTarget));
  }

  function start() {
    document.documentElement.classList.add("js");  // shows the hints that need this script
    var frames = document.querySelectorAll(".frame[data-before]");
    for (var i = 0; i < frames.length; i++) { makeComparison(frames[i]); }
    if (typeof HTMLDialogElement !== "function") { return; }  // old browser: links open files
    links = Array.prototype.slice.call(document.querySelectorAll("a.zoom"));
    for (var j = 0; j < links.length; j++) { links[j].addEventListener("click", onZoomClick); }
  }

  start();  // the script is deferred: the document is parsed by now
}());
