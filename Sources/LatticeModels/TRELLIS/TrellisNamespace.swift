// microsoft/TRELLIS@6b0d647:trellis/modules/__init__.py: the namespace of TRELLIS building blocks
// whose upstream class names collide with LatticeNN layers (`TRELLIS.MultiHeadAttention`).
import LatticeNN

/// TRELLIS modules under their upstream class names.
public enum TRELLIS {}
