  // Copy buttons: the clipboard API where the browser allows it, else select the text for Ctrl+C.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var pre = document.getElementById(button.getAttribute("data-copy"));
    var select = function () { window.getSelection().selectAllChildren(pre); button.textContent = "Selected: press Ctrl+C"; };
    if (!navigator.clipboard) return select();
    navigator.clipboard.writeText(pre.textContent).then(function () { button.textContent = "Copied"; }, select);
  });
  document.documentElement.setAttribute("data-js-ready", "true");
