// Turntables: the camera path against torch's float32 linspace/sin, and small mesh and Gaussian
// renders along it.
import Foundation
import LatticeGeometry
import LatticeTensor
import Testing

@testable import LatticeRender

/// A UV sphere of radius `r` with one colour and outward vertex normals.
func uvSphere(radius r: Float, rings: Int, segments: Int, color: SIMD3<Float>) -> TriangleMesh {
    var v: [SIMD3<Float>] = []
    for i in 0...rings {
        let theta = Float.pi * Float(i) / Float(rings)
        for j in 0..<segments {
            let phi = 2 * Float.pi * Float(j) / Float(segments)
            v.append(SIMD3(sin(theta) * cos(phi), sin(theta) * sin(phi), cos(theta)))
        }
    }
    var f: [SIMD3<Int32>] = []
    for i in 0..<rings {
        for j in 0..<segments {
            let a = Int32(i * segments + j)
            let b = Int32(i * segments + (j + 1) % segments)
            let c = a + Int32(segments)
            let d = b + Int32(segments)
            f.append(SIMD3(a, c, d))
            f.append(SIMD3(a, d, b))
        }
    }
    return TriangleMesh(
        vertices: v.map { $0 * r }, faces: f,
        vertexColors: [SIMD3<Float>](repeating: color, count: v.count), vertexNormals: v)
}

@Suite struct TurntableTests {
    @Test func cameraPathMatchesTorch() throws {
        // torch.linspace(0, 2*3.1415, 300) and 0.25 + 0.5*sin(.) in float32, bit for bit.
        let t = linspaceFloat32(0, 2 * 3.1415, 300)
        let expected: [(Int, Float)] = [
            (0, 0.0), (1, 0.021013377234339714), (149, 3.130993127822876),
            (150, 3.1520068645477295), (151, 3.173020124435425), (298, 6.26198673248291),
            (299, 6.2829999923706055),
        ]
        for (i, v) in expected { #expect(t[i] == v, "linspace[\(i)]") }
        for (i, p) in [(0, Float(0.25)), (1, 0.26050591468811035), (150, 0.24479298293590546)] {
            #expect(0.25 + 0.5 * sin(t[i]) == p, "pitch[\(i)]")
        }
        let cams = try turntableCameras()
        #expect(cams.count == 300)
        for cam in cams {
            let c = cameraCenter(extrinsics: cam.extrinsics)
            // radius 2 in float32 look-at arithmetic
            #expect(abs((c * c).sum().squareRoot() - 2) < 1e-5)
        }
    }

    @Test func meshTurntableShadesTheSphere() throws {
        let sphere = uvSphere(radius: 0.4, rings: 12, segments: 24, color: SIMD3(1, 0.5, 0))
        let frames = try renderTurntable(
            sphere, settings: TurntableSettings(frames: 3, resolution: 32, ssaa: 2))
        #expect(frames.count == 3)
        for f in frames {
            #expect(f.width == 32 && f.height == 32 && f.channels == 3)
            // Centre: headlight on a sphere facing the camera, ambient + diffuse ≈ 1.
            #expect(f[16, 16, 0] > 0.9)
            #expect(abs(f[16, 16, 1] - 0.5 * f[16, 16, 0]) < 0.02)
            #expect(f[16, 16, 2] == 0)
            #expect(f[0, 0, 0] == 0 && f[31, 31, 1] == 0)  // black background
        }
    }

    @Test func gaussianTurntableRendersTheScene() throws {
        let n = 64
        var means: [Float] = []
        for i in 0..<n {
            let a: Float = Float(i) * 0.7
            let z: Float = 0.01 * Float(i) - 0.3
            means.append(0.3 * cos(a))
            means.append(0.3 * sin(a))
            means.append(z)
        }
        let scene = try GaussianScene(
            means: means, quats: (0..<n).flatMap { _ in [Float(1), 0, 0, 0] },
            scales: [Float](repeating: 0.05, count: n * 3),
            opacities: [Float](repeating: 0.8, count: n),
            shCoefficients: [Float](repeating: 1, count: n * 3), shDegree: 0)
        let frames = try renderTurntable(
            scene, settings: TurntableSettings(frames: 2, resolution: 32))
        #expect(frames.count == 2)
        for f in frames {
            #expect(f.pixels.allSatisfy { (0...1).contains($0) })
            #expect(f.pixels.reduce(0, +) > 10)
            #expect(f[0, 0, 0] == 0)
        }
    }
}
