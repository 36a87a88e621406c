/// AtlasServe: the HTTP server behind `atlas serve`, for one output folder or a tree of them.
public enum AtlasServe {}
