// The state machine drawn with cytoscape.js and the dagre layout; nodes coloured by their status in one execution.

import cytoscape from "../vendor/cytoscape.esm.min.mjs";
import dagre from "../vendor/cytoscape-dagre.min.mjs";

cytoscape.use(dagre);

export const COLOURS = {
  succeeded: "#2e9d5b",
  failed: "#d64545",
  caught: "#e8912d",
  running: "#2f7fd8",
  not_reached: "#c9ced6",
};
const SHAPES = { Choice: "diamond", Start: "ellipse", End: "ellipse", Succeed: "round-rectangle", Fail: "round-rectangle" };

const STYLE = [
  {
    selector: "node",
    style: {
      label: "data(label)",
      shape: (n) => SHAPES[n.data("type")] || "round-rectangle",
      width: (n) => (n.data("type") === "Choice" ? 190 : ["Start", "End"].includes(n.data("type")) ? 56 : 180),
      height: (n) => (n.data("type") === "Choice" ? 64 : ["Start", "End"].includes(n.data("type")) ? 28 : 46),
      "background-color": (n) => COLOURS[n.data("status")] || COLOURS.not_reached,
      color: (n) => (n.data("status") === "not_reached" ? "#4b5263" : "#fff"),
      "font-size": 12,
      "font-weight": 600,
      "text-valign": "center",
      "text-halign": "center",
      "text-wrap": "wrap",
      "text-max-width": 165,
      "border-width": 1,
      "border-color": "#ffffff",
    },
  },
  { selector: "node[type = 'Start'], node[type = 'End']", style: { "font-size": 10 } },
  { selector: "node[status = 'running']", style: { "border-width": 3, "border-color": "#a9c8f2", "border-style": "dashed" } },
  { selector: "node:selected", style: { "border-width": 4, "border-color": "#1d2330", "border-style": "solid" } },
  {
    selector: "edge",
    style: {
      width: 1.4,
      "curve-style": "bezier",
      "line-color": "#cfd4dd",
      "target-arrow-color": "#cfd4dd",
      "target-arrow-shape": "triangle",
      label: "data(label)",
      "font-size": 9,
      color: "#6b7385",
      "text-background-color": "#ffffff",
      "text-background-opacity": 0.85,
      "text-background-padding": 2,
      "text-rotation": "autorotate",
    },
  },
  { selector: "edge[kind = 'catch']", style: { "line-style": "dashed" } },
  { selector: "edge[?taken]", style: { width: 2.6, "line-color": "#5b6478", "target-arrow-color": "#5b6478" } },
];

function elements(graph) {
  return [
    ...graph.nodes.map((n) => ({ group: "nodes", data: { ...n } })),
    ...graph.edges.map((e) => ({ group: "edges", data: { ...e } })),
  ];
}

export function drawGraph(container, graph, onSelect) {
  const cy = cytoscape({
    container,
    elements: elements(graph),
    style: STYLE,
    layout: { name: "dagre", rankDir: "TB", nodeSep: 40, rankSep: 48, edgeSep: 12, padding: 16 },
    autoungrabify: true,
    boxSelectionEnabled: false,
    minZoom: 0.3,
    maxZoom: 2,
  });
  cy.on("tap", "node", (event) => onSelect(event.target.id()));
  return {
    cy,
    update(next) {
      cy.batch(() => {
        for (const n of next.nodes) cy.getElementById(n.id).data(n);
        for (const e of next.edges) cy.getElementById(e.id).data(e);
      });
    },
    select(id) {
      cy.nodes().unselect();
      cy.getElementById(id).select();
    },
  };
}
