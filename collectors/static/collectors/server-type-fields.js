// The server admin page shows only the connection fields of the chosen type, as the type is
// picked (a saved server's page is already cut down by ServerAdmin.get_fieldsets). Which fields
// each type uses comes from the type select's data attributes (collectors/admin.py
// FIELDS_BY_TYPE), so Python stays the one place that knows. Hidden fields are still posted,
// blank on a new server.
(function () {
  "use strict";

  function show(element, visible) {
    element.style.display = visible ? "" : "none";
  }

  function update(select) {
    var byType = JSON.parse(select.dataset.fieldsByType);
    var all = JSON.parse(select.dataset.connectionFields);
    var used = byType[select.value] || all; // no type chosen yet: everything
    all.forEach(function (name) {
      var row = document.querySelector(".form-row.field-" + name);
      if (row) {
        show(row, used.indexOf(name) !== -1);
      }
    });
    // A section whose every row is hidden goes too (no empty "BMC" box for a pushed server).
    document.querySelectorAll("fieldset.module").forEach(function (fieldset) {
      var rows = Array.prototype.slice.call(fieldset.querySelectorAll(".form-row"));
      if (rows.length) {
        show(fieldset, rows.some(function (row) { return row.style.display !== "none"; }));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_bmc_type");
    if (!select || !select.dataset.fieldsByType) {
      return;
    }
    select.addEventListener("change", function () { update(select); });
    update(select);
    document.body.dataset.serverTypeFields = "ready";
  });
})();
