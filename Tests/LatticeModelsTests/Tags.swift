// Test tags shared by the LatticeModels test suites.
import Testing

extension Tag {
    /// Full-size model runs (tens of seconds in release); skipped with LATTICE_SKIP_SLOW=1.
    @Tag static var slow: Tag
}
