  // Records script errors on <html data-js-errors> so an automated check can see them.
  window.addEventListener("error", function (event) {
    var root = document.documentElement;
    root.setAttribute("data-js-errors", (root.getAttribute("data-js-errors") || "") + event.message + "\n");
  });
