import LatticeTensor
import Testing

@testable import LatticeNN

private final class Toy: Module {
    let weight: Parameter
    override init() {
        weight = Parameter(Tensor(zeros: [2, 3]))
        super.init()
        register("weight", weight)
    }
}

@Suite struct ModuleTests {
    @Test func strictLoadNamesKeyAndShapes() throws {
        let m = Toy()
        #expect(throws: LatticeError.self) { try m.load(["weight": Tensor(zeros: [3, 2])]) }
        do {
            try m.load(["weight": Tensor(zeros: [3, 2])], source: "toy.safetensors")
        } catch let e as LatticeError {
            #expect(e.message.contains("'weight'"))
            #expect(e.message.contains("[3, 2]") && e.message.contains("[2, 3]"))
        }
        #expect(throws: LatticeError.self) {
            try m.load(["weight": Tensor(zeros: [2, 3]), "bias": Tensor(zeros: [3])])
        }
    }
}
