import ArgumentParser

/// Commands that need the device simulator (demo, simulate) are added here.
let extraCommands: [any ParsableCommand.Type] = []
