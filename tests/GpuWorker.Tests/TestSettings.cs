// One test at a time: TorchSharp passes an implicitly created Scalar's handle to native code without keeping the
// Scalar alive, so a garbage collection started by another test thread can finalise it mid-call (seen as
// "toDouble" errors under parallel load). Serial tests keep other threads from allocating during tensor work.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
