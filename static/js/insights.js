/* Insights: the date fields matter only when "Dates" is the period; hide them otherwise. */
(function () {
  "use strict";

  var select = document.querySelector("select[name=period]");
  if (!select) return;
  function sync() {
    var custom = select.value === "custom";
    document.querySelectorAll("[data-period-dates]").forEach(function (field) {
      field.hidden = !custom;
    });
  }
  select.addEventListener("change", sync);
  sync();
})();
