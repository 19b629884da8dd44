import Testing

@testable import LatticeFixtures
