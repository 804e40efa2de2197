// One test at a time: fewer threads allocating while TorchSharp is inside native code. TorchSharp hands a native call
// the handle of a Scalar it created from a .NET number without keeping the Scalar alive; a garbage collection started
// by another thread can then finalise it mid-call ("toDouble" errors). The engine's hot paths take cached Scalars
// (src/GpuWorker/Scalars.cs); this narrows the window for the implicit ones left inside TorchSharp itself.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
