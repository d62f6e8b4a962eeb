// Mermaid's own parser, as a filter: one JSON string (a diagram) per input line,
// one JSON answer per output line:
//   {"ok": true, "type": "flowchart-v2", "vertices": [[id, text, shape]...],
//    "edges": [[from, to, text]...]}    or    {"ok": false, "error": "Parse error ..."}
// Mermaid expects a browser; jsdom gives it a window and a document.
import { createInterface } from "node:readline";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

// Mermaid keeps `#quot;` and friends encoded until it draws; decode them as it does.
const decoded = (text) =>
  dom.window.document.createRange().createContextualFragment(
    `<span>${text.replaceAll("ﬂ°°", "&#").replaceAll("ﬂ°", "&").replaceAll("¶ß", ";")}</span>`,
  ).textContent;

for await (const line of createInterface({ input: process.stdin })) {
  let answer;
  try {
    const text = JSON.parse(line);
    await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    const vertices = diagram.db.getVertices?.() ?? new Map();
    const edges = diagram.db.getEdges?.() ?? [];
    answer = {
      ok: true,
      type: diagram.type,
      vertices: [...vertices.values()].map((v) => [v.id, decoded(v.text), v.type]),
      edges: edges.map((e) => [e.start, e.end, decoded(e.text)]),
    };
  } catch (error) {
    answer = { ok: false, error: String(error?.message ?? error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
