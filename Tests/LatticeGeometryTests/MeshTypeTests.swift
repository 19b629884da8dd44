// Tests for the shared mesh and image value types.
import LatticeGeometry
import Testing

@Suite struct MeshTypeTests {
    @Test func validateRejectsOutOfRangeFaces() throws {
        let good = TriangleMesh(vertices: [.zero, [1, 0, 0], [0, 1, 0]], faces: [[0, 1, 2]])
        try good.validate(source: "good")
        let bad = TriangleMesh(vertices: [.zero, [1, 0, 0], [0, 1, 0]], faces: [[0, 1, 3]])
        #expect(throws: (any Error).self) { try bad.validate(source: "bad") }
        #expect(good.bounds?.max == SIMD3<Float>(1, 1, 0))
    }

    @Test func imageTensorRoundTrip() {
        var img = RasterImage(width: 3, height: 2, channels: 4)
        img[2, 1, 3] = 0.5
        let back = RasterImage(tensor: img.tensor)
        #expect(back == img)
        #expect(img.tensor.shape == [2, 3, 4])
    }
}
