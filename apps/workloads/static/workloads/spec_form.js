// The workload form: show the option fields of the selected kind only, and hide them when
// the spec is edited as JSON (apps/workloads/spec_form.py). Without JavaScript every group
// stays visible and the switch still decides what a save takes.
(function () {
  "use strict";
  function sync() {
    var kind = document.getElementById("id_kind");
    var json = document.querySelector("input.tf-spec-mode[value='json']");
    var asJson = json && json.checked;
    document.querySelectorAll("fieldset.tf-kind-fields").forEach(function (group) {
      var own = kind && group.classList.contains("tf-kind-" + kind.value);
      group.hidden = !own || asJson;
    });
    var text = document.getElementById("id_spec");
    var row = text && text.closest(".form-row");
    if (row) { row.hidden = !asJson; }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var kind = document.getElementById("id_kind");
    if (kind) { kind.addEventListener("change", sync); }
    document.querySelectorAll("input.tf-spec-mode").forEach(function (radio) {
      radio.addEventListener("change", sync);
    });
    sync();
  });
})();
