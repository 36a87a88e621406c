// AtlasVis
