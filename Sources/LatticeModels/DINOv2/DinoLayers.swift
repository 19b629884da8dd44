// facebookresearch/dinov2@b8931f7:dinov2/layers/__init__.py: the namespace of the DINOv2 layers
// (each layer lives in the Swift file named after its upstream file).
import LatticeNN
import LatticeTensor

/// DINOv2 building blocks under their upstream class names (`DINOv2.Block`, `DINOv2.Attention`).
public enum DINOv2 {}
