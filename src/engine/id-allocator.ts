// Group numbers come from an IDA (drivers/iommu/iommu.c iommu_group_alloc → ida_alloc):
// the lowest free number, so numbers freed by remove or SR-IOV disable are reused.

export class IdAllocator {
  private readonly used: boolean[] = [];
  private lowestMaybeFree = 0;

  alloc(): number {
    let id = this.lowestMaybeFree;
    while (this.used[id]) id++;
    this.used[id] = true;
    this.lowestMaybeFree = id + 1;
    return id;
  }

  free(id: number): void {
    if (!this.used[id]) return;
    this.used[id] = false;
    if (id < this.lowestMaybeFree) this.lowestMaybeFree = id;
  }

  /** Saved state: exactly these numbers in use. An IDA's next number depends on nothing else. */
  reset(used: Iterable<number>): void {
    this.used.length = 0;
    for (const id of used) this.used[id] = true;
    this.lowestMaybeFree = 0;
  }

  isUsed(id: number): boolean {
    return this.used[id] === true;
  }
}
