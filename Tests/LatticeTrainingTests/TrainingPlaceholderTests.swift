// Training tests live here (trainers, resume, datasets).
import LatticeTraining
import Testing
