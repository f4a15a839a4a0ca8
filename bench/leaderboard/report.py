"""The HTML report: one self-contained file (inline CSS, inline SVG plots, a little JS).

Nothing is fetched when the file is opened: no fonts, scripts or images from the network.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from bench.leaderboard import cells, plots
from bench.leaderboard.compare import Comparison
from bench.leaderboard.frame import Leaderboard
from bench.leaderboard.text import PARETO_NOTE, summary_cells

_CSS = """
:root{--fg:#1d2330;--muted:#5b6475;--line:#e3e6ec;--bg:#f6f7f9;--card:#fff;--accent:#2f5fd0;
--pareto:#fff6d6;--pareto-line:#e0b400}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1440px;margin:0 auto;padding:28px 24px 48px}
header .kicker{text-transform:uppercase;letter-spacing:.08em;font-size:12px;color:var(--accent);
font-weight:600}
h1{font-size:28px;margin:4px 0 6px}
h2{font-size:18px;margin:34px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
.sub{color:var(--muted);margin:0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;
margin-top:22px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .k{font-size:12px;color:var(--muted)}
.card .v{font-size:22px;font-weight:650;margin-top:2px}
.card .s{font-size:12px;color:var(--muted);margin-top:2px;overflow-wrap:anywhere}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:10px}
figure svg{width:100%;height:auto;display:block}
figcaption{font-size:12px;color:var(--muted);margin-top:4px}
.tools{display:flex;gap:14px;align-items:center;margin-bottom:8px;color:var(--muted);
font-size:12px;flex-wrap:wrap}
.tools input{padding:6px 10px;border:1px solid var(--line);border-radius:6px;min-width:260px;
font:inherit}
.tablewrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{position:sticky;top:0;background:#eef1f6;font-weight:600;white-space:nowrap}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[data-dir=asc]::after{content:" ▲";font-size:10px}
table.sortable th[data-dir=desc]::after{content:" ▼";font-size:10px}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even){background:#fafbfc}
tbody tr.pareto{background:var(--pareto)}
tbody tr.best td{font-weight:650}
tbody tr.best td:first-child{box-shadow:inset 3px 0 0 var(--accent)}
tbody tr.pareto td:first-child{box-shadow:inset 3px 0 0 var(--pareto-line)}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
details summary{cursor:pointer;list-style:none;white-space:nowrap}
details summary::-webkit-details-marker{display:none}
details summary code::after{content:" ⊕";color:var(--accent)}
details[open] summary code::after{content:" ⊖"}
code.full{display:block;white-space:pre-wrap;overflow-wrap:anywhere;max-width:640px;
margin-top:4px;padding:6px;background:#f1f3f7;border-radius:6px}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;color:#fff;
white-space:nowrap}
.badge{display:inline-block;padding:0 6px;border-radius:4px;font-size:11px;font-weight:700;
background:var(--pareto-line);color:#3a2d00;margin-right:2px}
.hp{color:var(--muted);font-size:11px;min-width:180px}
.muted{color:var(--muted)}
.published{border:1px dashed #9aa3b5;border-radius:10px;padding:4px 14px 12px;
background:repeating-linear-gradient(135deg,#fff,#fff 10px,#f8f9fb 10px,#f8f9fb 20px)}
dl.repro{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;background:var(--card);
border:1px solid var(--line);border-radius:10px;padding:12px 16px;margin:0}
dl.repro dt{font-weight:600}
dl.repro dd{margin:0;overflow-wrap:anywhere}
footer{margin-top:36px;color:var(--muted);font-size:12px}
"""

_JS = """
for (const table of document.querySelectorAll("table.sortable")) {
  const heads = table.tHead.rows[0].cells, body = table.tBodies[0];
  Array.from(heads).forEach((th, i) => th.addEventListener("click", () => {
    const dir = th.dataset.dir === "asc" ? "desc" : "asc", sign = dir === "asc" ? 1 : -1;
    for (const h of heads) delete h.dataset.dir;
    th.dataset.dir = dir;
    const key = r => { const c = r.cells[i]; const v = c.dataset.v;
      if (v === undefined) return c.textContent.trim().toLowerCase();
      return v === "" ? null : parseFloat(v); };
    const rows = Array.from(body.rows).sort((a, b) => { const x = key(a), y = key(b);
      if (x === null || y === null) return (x === null) - (y === null);
      return (x < y ? -1 : x > y ? 1 : 0) * sign; });
    body.append(...rows);
  }));
}
for (const input of document.querySelectorAll("input[data-filter]")) {
  const body = document.getElementById(input.dataset.filter).tBodies[0];
  input.addEventListener("input", () => { const q = input.value.toLowerCase();
    for (const r of body.rows) r.hidden = q !== "" && !r.textContent.toLowerCase().includes(q); });
}
"""

e = html.escape


def _page(title: str, kicker: str, subtitle: str, body: list[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body><main>",
        f'<header><div class="kicker">{e(kicker)}</div><h1>{e(title)}</h1>'
        f'<p class="sub">{subtitle}</p></header>',
        *body,
        '<footer>Self-contained report: plots and styles are embedded, nothing is loaded '
        "from the network. Scores are validation scores unless marked test.</footer>",
        f"</main><script>{_JS}</script></body></html>", ""])


def _direction(maximize: bool) -> str:
    return "higher is better" if maximize else "lower is better"


def _cards(items: list[tuple[str, str, str]]) -> str:
    out = ['<section class="cards">']
    for key, value, sub in items:
        out.append(f'<div class="card"><div class="k">{e(key)}</div><div class="v">{e(value)}'
                   f'</div><div class="s">{e(sub)}</div></div>')
    return "\n".join(out + ["</section>"])


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{e(caption)}</figcaption></figure>"


def _num(value, text: str) -> str:
    raw = "" if cells.missing(value) else f"{float(value):.10g}"
    return f'<td class="n" data-v="{raw}">{e(text)}</td>'


def _arch_cell(arch) -> str:
    full = "" if cells.missing(arch) else str(arch)
    short = cells.shorten(full, 30)
    if short == full:
        return f"<td><code>{e(full)}</code></td>"
    return (f'<td data-v="{e(full)}"><details><summary title="{e(full)}"><code>{e(short)}'
            f'</code></summary><code class="full">{e(full)}</code></details></td>')


def ranking_table(board: Leaderboard, rows: pd.DataFrame, out_path: Path | None,
                  table_id: str) -> str:
    """The ranking as an HTML table; Pareto rows get class ``pareto`` and badges."""
    has = {c: bool(board.rows[c].notna().any())
           for c in ("test_score", "macs", "latency_ms", "predicted_score", "origin")}
    palette = plots.colours(board.rows["grammar"])
    m = board.metric
    heads = [("#", "rank by validation score"), ("Pareto", PARETO_NOTE), ("arch id", ""),
             ("grammar", ""), ("architecture", "canonical string; click to expand"),
             ("val", f"validation {m}")]
    heads += [("test", f"test {m} (never used for selection)")] * has["test_score"]
    heads += [("params", "")] + [("MACs", "multiply-accumulates per sample")] * has["macs"]
    heads += [("latency", "onnxruntime, batch of one")] * has["latency_ms"]
    heads += [("predicted", "the predictor's score")] * has["predicted_score"]
    heads += [("origin", "how the search proposed it: reference, mutation kind, crossover, "
                         "random")] * has["origin"]
    heads += [("train", "training time, all inner trials"),
              ("hparams", "tuned hyperparameters; epochs of the best inner trial"),
              ("ONNX", "")]
    out = [f'<table id="{table_id}" class="sortable"><thead><tr>'
           + "".join(f'<th title="{e(t)}">{e(h)}</th>' for h, t in heads)
           + "</tr></thead><tbody>"]
    for r in rows.itertuples(index=False):
        on_front = r.pareto_params or r.pareto_latency
        grammar = str(r.grammar)
        tds = [_num(r.rank, str(r.rank)), _pareto_cell(r.pareto_params, r.pareto_latency),
               f"<td><code>{e(str(r.arch_id))}</code></td>",
               f'<td><span class="pill" style="background:{palette.get(grammar, "#7f7f7f")}">'
               f"{e(grammar)}</span></td>", _arch_cell(r.arch),
               _num(r.val_score, cells.score(r.val_score, m))]
        tds += [_num(r.test_score, cells.score(r.test_score, m))] * has["test_score"]
        tds += [_num(r.params, cells.count(r.params))]
        tds += [_num(r.macs, cells.count(r.macs))] * has["macs"]
        tds += [_num(r.latency_ms, cells.millis(r.latency_ms))] * has["latency_ms"]
        tds += [_num(r.predicted_score, cells.score(r.predicted_score, m))] * has["predicted_score"]
        tds += [f"<td>{e('' if cells.missing(r.origin) else str(r.origin))}</td>"] * has["origin"]
        epochs = "" if cells.missing(r.epochs) else f"epochs={r.epochs}, "
        tds += [_num(r.train_seconds, cells.seconds(r.train_seconds)),
                f'<td class="hp">{e(epochs + cells.hparams(r.hparams))}</td>',
                _onnx_cell(board, r.onnx_path, out_path)]
        out.append(f'<tr{" class=pareto" if on_front else ""}>{"".join(tds)}</tr>')
    return "\n".join(out + ["</tbody></table>"])


def _pareto_cell(on_params: bool, on_latency: bool) -> str:
    badges = ('<span class="badge" title="on the front of score vs parameters">P</span>'
              if on_params else "")
    badges += ('<span class="badge" title="on the front of score vs latency">L</span>'
               if on_latency else "")
    return f'<td data-v="{int(on_params) + int(on_latency)}">{badges}</td>'


def _onnx_cell(board: Leaderboard, onnx_path, out_path: Path | None) -> str:
    link = cells.onnx_link(board.store_root, onnx_path, out_path)
    if link is None:
        return '<td class="muted">–</td>'
    return f'<td><a href="{e(link)}" title="{e(str(onnx_path))}">onnx</a></td>'


def _references(board: Leaderboard) -> str:
    if not board.references:
        return ""
    rows = "".join(f"<tr><td>{e(r.name)}</td>{_num(r.score, cells.score(r.score, board.metric))}"
                   f'<td class="muted">{e(r.source)}</td></tr>' for r in board.references)
    return ("<h2>Published figures</h2><div class=\"published\"><p class=\"muted\">Figures "
            "reported in the literature for this task. They were <b>not measured here</b> and "
            "are not part of the ranking; the plots draw them as dashed lines.</p>"
            f"<table><thead><tr><th>model</th><th>{e(board.metric)}</th><th>source</th></tr>"
            f"</thead><tbody>{rows}</tbody></table></div>")


def _repro(info: dict[str, str]) -> str:
    items = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in info.items())
    return f'<dl class="repro">{items}</dl>'


def _board_cards(board: Leaderboard) -> str:
    best, c, m = board.rows.iloc[0], board.counts, board.metric
    items = [(f"best validation {m}", cells.score(best["val_score"], m),
              f"{best['arch_id']} · {best['grammar']}"),
             (f"its test {m}", cells.score(best["test_score"], m), "never used for selection"),
             ("architectures", f"{len(board.rows):,}",
              f"{c['finished']:,} evaluations, {c['failed']:,} failed"),
             ("Pareto front", f"{int(board.rows['pareto_params'].sum())} / "
              f"{int(board.rows['pareto_latency'].sum())}", "score vs params / vs latency"),
             ("training time", cells.seconds(board.history["train_seconds"].sum(skipna=True)),
              "all evaluations")]
    if board.references:
        top = max(board.references, key=lambda r: r.score if board.maximize else -r.score)
        items.append(("best published figure", cells.score(top.score, m),
                      f"{top.name} (published)"))
    return _cards(items)


def _positive(values: pd.Series) -> bool:
    """Whether a cost column has any value a log axis can show."""
    return bool((pd.to_numeric(values, errors="coerce") > 0).any())


def _board_plots(board: Leaderboard) -> str:
    rows, m, up, refs = board.rows, board.metric, board.maximize, board.references
    figs = []
    if _positive(rows["params"]):
        figs.append(_figure(plots.score_vs_cost(rows, "params", m, up, refs,
                                                "Score vs parameters"),
                            "Each dot is one architecture; the black step line is the "
                            "Pareto front."))
    if _positive(rows["latency_ms"]):
        figs.append(_figure(plots.score_vs_cost(rows, "latency_ms", m, up, [],
                                                "Score vs onnxruntime latency"),
                            "Latency measured on the exported ONNX file (batch of one)."))
    figs.append(_figure(plots.distribution(rows, "grammar", m, up,
                                           "Score distribution per grammar"),
                        "Best score of each architecture, grouped by grammar (family)."))
    if len(board.history) > 1:
        figs.append(_figure(plots.best_so_far(board.history, "strategy", "evaluation", m, up, refs,
                                              "Best so far vs evaluations"),
                            "Failed evaluations count: they spent budget."))
    return '<h2>Plots</h2><div class="plots">' + "\n".join(figs) + "</div>"


def board_html(board: Leaderboard, top: int | None = None, out_path: Path | None = None) -> str:
    """The leaderboard as one self-contained HTML page."""
    shown = board.rows.head(top) if top else board.rows
    more = (f" (top {len(shown):,} of {len(board.rows):,})" if len(shown) < len(board.rows)
            else "")
    subtitle = (f"{e(board.task or 'unknown task')} · validation {e(board.metric)} "
                f"({_direction(board.maximize)}) · "
                f"{e(board.reproducibility.get('generated at', ''))}")
    body = [_board_cards(board), _board_plots(board), f"<h2>Ranking{e(more)}</h2>",
            '<div class="tools"><input type="search" placeholder="Filter rows (id, grammar, '
            'op, …)" data-filter="board"><span>Click a column to sort. '
            f"{e(PARETO_NOTE)}; Pareto rows are highlighted.</span></div>",
            f'<div class="tablewrap">{ranking_table(board, shown, out_path, "board")}</div>',
            _references(board), "<h2>Reproducibility</h2>", _repro(board.reproducibility)]
    return _page(f"Leaderboard: {board.label}", "NAS leaderboard", subtitle, body)


def compare_html(comp: Comparison, top: int | None = None, out_path: Path | None = None) -> str:
    """The comparison of runs as one self-contained HTML page."""
    m, up, refs = comp.metric, comp.maximize, comp.references
    labels = [b.label for b in comp.boards]
    rows = pd.concat([b.rows.assign(run=b.label) for b in comp.boards], ignore_index=True)
    figs = [
        _figure(plots.best_so_far(comp.history, "run", "evaluation", m, up, refs,
                                  "Best so far vs evaluations"), "One line per run."),
        _figure(plots.best_so_far(comp.history, "run", "elapsed_s", m, up, refs,
                                  "Best so far vs wall time"),
                "Wall time from each run's first evaluation."),
        _figure(plots.distribution(rows, "run", m, up, "Score distribution per run"),
                "Best score of each architecture a run evaluated."),
    ]
    if _positive(rows["params"]):
        figs.append(_figure(plots.score_vs_cost(rows, "params", m, up, refs,
                                                "Score vs parameters", by="run"),
                            "Black: the Pareto front of all runs together."))
    heads = ["run", "strategy", "grammar", "evaluations", "failed", f"best val {m}", "its test",
             "best arch", "params", "evaluations to best", "wall time"]
    scores = comp.summary["best_val_score"]
    best = scores.idxmax() if up else scores.idxmin()
    body_rows = "".join(f"<tr{' class=best' if i == best else ''}>"
                        + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
                        for i, row in enumerate(summary_cells(comp)))
    summary = ('<div class="tablewrap"><table id="summary" class="sortable"><thead><tr>'
               + "".join(f"<th>{e(h)}</th>" for h in heads)
               + f"</tr></thead><tbody>{body_rows}</tbody></table></div>")
    runs = []
    for board in comp.boards:
        shown = board.rows.head(top or 10)
        runs.append(f"<h2>{e(board.label)}: top {len(shown)}</h2><div class=\"tablewrap\">"
                    f"{ranking_table(board, shown, out_path, 'run-' + board.label)}</div>"
                    f"<details><summary class=\"muted\">Reproducibility of {e(board.label)}"
                    f"</summary>{_repro(board.reproducibility)}</details>")
    subtitle = (f"{e(comp.task or 'unknown task')} · validation {e(m)} ({_direction(up)}) · "
                f"{len(labels)} runs")
    note = ('<p class="muted">Bold: the run with the best validation score. Evaluations '
            "include failed ones; wall time runs from each run's first evaluation.</p>")
    body = ["<h2>Summary</h2>", summary, note, '<h2>Plots</h2><div class="plots">', *figs,
            "</div>",
            _references(comp.boards[0]), *runs]
    return _page(f"Comparison: {' vs '.join(labels)}", "NAS comparison", subtitle, body)
