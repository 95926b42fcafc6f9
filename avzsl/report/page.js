document.getElementById("class-search").addEventListener("input", e => {
  const words = e.target.value.toLowerCase().trim().split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const row of document.querySelectorAll("#class-table tbody tr")) {
    const name = row.cells[0].textContent.toLowerCase();  // the class name: not the classes named beside it
    const hit = words.every(w => name.includes(w));
    row.style.display = hit ? "" : "none"; shown += hit;
  }
  document.getElementById("class-count").textContent = shown;
});
