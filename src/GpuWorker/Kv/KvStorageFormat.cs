namespace AlisaCluster.GpuWorker.Kv;

public enum KvStorageFormat
{
    /// <summary>K/V in the model's dtype.</summary>
    Native,
    /// <summary>Full blocks as uint8 codes with a per-channel scale and minimum per block (asymmetric min/max);
    /// each sequence's newest, partial block stays in the model's dtype until it fills (as KIVI does).</summary>
    Int8,
}
