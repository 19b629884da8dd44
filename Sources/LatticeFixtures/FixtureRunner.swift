// Parity fixtures: builds the module a fixture names, runs it, compares with upstream outputs.
import LatticeModels
