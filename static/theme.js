/* The colour theme, before the first paint: "dark" or "light" as saved by the page's toggle,
 * else none (the stylesheet follows prefers-color-scheme). A classic script, not a module, so
 * it runs before the body is drawn. */
(function () {
  try {
    var saved = localStorage.getItem("theme");
    if (saved === "dark" || saved === "light") document.documentElement.dataset.theme = saved;
  } catch (err) {
    /* storage blocked: follow the system */
  }
})();
