// Model ports (one Swift file per upstream Python file). See each file's first line for the
// upstream path and commit it follows.
@_exported import LatticeNN
@_exported import LatticeSparse
@_exported import LatticeTensor
