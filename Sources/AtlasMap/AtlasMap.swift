// AtlasMap
