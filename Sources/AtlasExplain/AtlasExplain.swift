/// AtlasExplain: why a network answers as it does — attribution heatmaps (saliency, gradient×input,
/// integrated gradients, Grad-CAM), one image's activation maps, and node-link diagrams of the graph.
public enum AtlasExplain {}
