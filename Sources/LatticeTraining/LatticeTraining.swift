// LatticeTraining: datasets (procedural shapes, mesh folders), the TRELLIS trainers,
// checkpoints with optimizer state and exact resume.
import LatticePipelines
