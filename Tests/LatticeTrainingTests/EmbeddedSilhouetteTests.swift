// The embedded default's `structure_guidance` camera against its own conditioning photos: the
// silhouette compensation can only pull toward the photo if the shipped camera, the projection
// and the crop frame agree with how the photos are rendered and preprocessed.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticePipelines
import Testing

@testable import LatticeTraining

@Suite struct EmbeddedSilhouetteTests {
    @Test func shippedCameraExplainsTheConditioningPhotos() throws {
        let folder = try ModelFolder(root: try EmbeddedDefault.modelFolder())
        let config = try #require(folder.config.structureGuidance)
        let cameras = try config.cameras()
        let r = EmbeddedDefault.resolution
        // The bundled examples but the stacked one (its cylinder and cones are thinner than a
        // 32³ cell, so the voxels' outline is much wider than the photo's: IoU 0.68).
        for item in [0, 1, 2, 3, 5].map({ EmbeddedDefault.heldOutStart + $0 }) {
            let mesh = EmbeddedDefault.shapes.shape(item).mesh
            let photo = try EmbeddedDefault.photo(
                mesh, camera: EmbeddedDefault.conditionCamera(seed: UInt64(item)))
            let mask = try ImagePreprocess.alphaMask(
                PixelImage(photo), size: config.size, source: "shape \(item)")
            // The shape's own occupancy: its surface voxels (the structure the flow samples).
            var p = [Float](repeating: 0, count: r * r * r)
            for c in Voxelizer.voxelizeSurface(mesh, resolution: r) {
                p[(Int(c.x) * r + Int(c.y)) * r + Int(c.z)] = 1
            }
            let fit = try SilhouetteFit(
                target: mask, size: config.size, resolution: r, cameras: cameras)
            // The photo's camera lies inside the search grid (yaw and pitch within its ranges),
            // so some grid camera sees nearly the photo's silhouette (measured 0.91-0.97). 0.88,
            // not 1: the grid is 0.05 rad apart, the fov differs (30-50° against 40°), and
            // voxel footprints are squares where the mesh has curved outlines.
            let best = fit.bestCamera(p)
            #expect(best.iou > 0.88, "shape \(item): best IoU \(best.iou)")
            // A camera from behind sees another outline: the fit tells them apart.
            let behind = try SilhouetteFit(
                target: mask, size: config.size, resolution: r,
                cameras: [
                    try yawPitchRadiusFovToExtrinsicsIntrinsics(
                        yaw: config.yaw + 2.2, pitch: -0.6, radius: 2.5, fovDegrees: 40)
                ])
            #expect(behind.iou(p, camera: 0) < best.iou - 0.05)
        }
    }
}
