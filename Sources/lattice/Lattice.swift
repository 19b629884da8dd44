// The `lattice` command: one root command, one file per subcommand.
import ArgumentParser
import LatticeFixtures

@main
struct Lattice: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lattice",
        abstract: "Swift-native 3D generation and reconstruction (TRELLIS, ReconViaGen, VIST3A).",
        subcommands: [
            Demo.self, CheckFixture.self, Generate.self, Inspect.self, Info.self, Convert.self,
            RandomModel.self, Render.self, Train.self, TrainDefault.self, DataCommand.self,
            Eval.self,
        ])
}
