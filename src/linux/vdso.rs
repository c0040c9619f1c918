//! The vDSO: the code page the kernel maps into every process, whose functions answer some
//! calls (`clock_gettime`, `gettimeofday`, `time`, `getcpu`) without entering the kernel.
//!
//! The image is found through the auxiliary vector's `AT_SYSINFO_EHDR` and its symbols are
//! looked up by name and version (`LINUX_2.6`), through the GNU hash table when the image has
//! one and the SysV hash table otherwise (see vdso(7) and the kernel's `parse_vdso.c`).
//! Each call falls back to the real system call when its symbol is missing, and the whole vDSO
//! can be switched off: [`Vdso::without`] for one table, `GORO_VDSO=off` in the environment for
//! the process.
//!
//! vDSO functions run on the caller's stack; they need well under a page, which every goroutine
//! stack has to spare.

use core::ffi::{CStr, c_int, c_uint, c_ulong, c_void};
use core::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, Ordering};

use linux_raw_sys::elf::*;
use linux_raw_sys::general::{__NR_clock_gettime, __NR_getcpu, __NR_gettimeofday, __NR_time};

use super::arch;
use super::errno::Errno;

/// `struct timespec` as the kernel writes it (64-bit seconds and nanoseconds).
pub type Timespec = linux_raw_sys::general::__kernel_timespec;
/// `struct timeval` as the kernel writes it (seconds and microseconds).
pub type Timeval = linux_raw_sys::general::timeval;

type ClockGettimeFn = unsafe extern "C" fn(c_int, *mut Timespec) -> isize;
type GettimeofdayFn = unsafe extern "C" fn(*mut Timeval, *mut c_void) -> isize;
type TimeFn = unsafe extern "C" fn(*mut i64) -> i64;
type GetcpuFn = unsafe extern "C" fn(*mut c_uint, *mut c_uint, *mut c_void) -> isize;

unsafe extern "C" {
    /// The C library's reader of the auxiliary vector (glibc 2.16+, musl): the one the process
    /// already links, as rustix uses by default.
    fn getauxval(kind: c_ulong) -> c_ulong;
}

/// The four functions, each the vDSO's or, where the image lacks it, a shim with the same
/// prototype that makes the real system call. Calls are one indirect call either way.
///
/// ```
/// use goro::syscall::Vdso;
///
/// let fast = Vdso::get().clock_gettime(1).unwrap(); // CLOCK_MONOTONIC
/// let slow = Vdso::without().clock_gettime(1).unwrap();
/// assert!((fast.tv_sec, fast.tv_nsec) <= (slow.tv_sec, slow.tv_nsec));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Vdso {
    clock_gettime: ClockGettimeFn,
    gettimeofday: GettimeofdayFn,
    time: TimeFn,
    getcpu: GetcpuFn,
    found: [bool; 4],
}

/// The process's table once resolved; null before. Written once (by whichever thread wins the
/// race to resolve it), never freed.
static PROCESS: AtomicPtr<Vdso> = AtomicPtr::new(ptr::null_mut());

impl Vdso {
    /// The process's table, found on first use. With `GORO_VDSO=off` in the environment at
    /// that moment it is [`Vdso::without`].
    #[inline]
    pub fn get() -> &'static Vdso {
        // Acquire: synchronizes with the Release in `resolve`, so the table's fields are seen.
        let p = PROCESS.load(Ordering::Acquire);
        if p.is_null() {
            return Vdso::resolve();
        }
        // SAFETY: a non-null pointer is a leaked, never-freed table.
        unsafe { &*p }
    }

    #[cold]
    fn resolve() -> &'static Vdso {
        let off = std::env::var_os("GORO_VDSO").is_some_and(|v| v == "off");
        let table = match Image::of_process() {
            Some(image) if !off => Vdso::from_image(&image),
            _ => Vdso::without(),
        };
        let mine = Box::into_raw(Box::new(table));
        match PROCESS.compare_exchange(ptr::null_mut(), mine, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: just published; never freed.
            Ok(_) => unsafe { &*mine },
            Err(theirs) => {
                // SAFETY: `mine` was never shared; `theirs` is the published, leaked table.
                unsafe {
                    drop(Box::from_raw(mine));
                    &*theirs
                }
            }
        }
    }

    /// A table with no vDSO functions: every call takes the real system call.
    pub const fn without() -> Vdso {
        Vdso {
            clock_gettime: sys_clock_gettime,
            gettimeofday: sys_gettimeofday,
            time: sys_time,
            getcpu: sys_getcpu,
            found: [false; 4],
        }
    }

    fn from_image(image: &Image) -> Vdso {
        let mut v = Vdso::without();
        // SAFETY: each symbol is the kernel's implementation of the C prototype named by the
        // function type it is cast to (vdso(7), x86_64 section).
        unsafe {
            if let Some(p) = image.lookup(c"__vdso_clock_gettime") {
                v.clock_gettime = core::mem::transmute::<*mut c_void, ClockGettimeFn>(p.as_ptr());
                v.found[0] = true;
            }
            if let Some(p) = image.lookup(c"__vdso_gettimeofday") {
                v.gettimeofday = core::mem::transmute::<*mut c_void, GettimeofdayFn>(p.as_ptr());
                v.found[1] = true;
            }
            if let Some(p) = image.lookup(c"__vdso_time") {
                v.time = core::mem::transmute::<*mut c_void, TimeFn>(p.as_ptr());
                v.found[2] = true;
            }
            if let Some(p) = image.lookup(c"__vdso_getcpu") {
                v.getcpu = core::mem::transmute::<*mut c_void, GetcpuFn>(p.as_ptr());
                v.found[3] = true;
            }
        }
        v
    }

    /// Which of the four functions come from the vDSO, in the order `clock_gettime`,
    /// `gettimeofday`, `time`, `getcpu`.
    pub fn found(&self) -> [bool; 4] {
        self.found
    }

    /// `clock_gettime(2)`: the time of `clock` (`CLOCK_MONOTONIC`, ...). An unknown clock is
    /// `EINVAL`.
    #[inline]
    pub fn clock_gettime(&self, clock: i32) -> Result<Timespec, Errno> {
        let mut ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; nothing else is written.
        let r = unsafe { (self.clock_gettime)(clock, &mut ts) };
        // The vDSO stores the two fields with two 8-byte stores; a 16-byte load of them (what
        // LLVM makes of moving `ts` into the result) misses store-to-load forwarding and
        // costs about 10 cycles, a third of the call. Two 8-byte loads forward.
        // SAFETY: reads of a live local.
        let (tv_sec, tv_nsec) = unsafe {
            (
                ptr::read_volatile(&ts.tv_sec),
                ptr::read_volatile(&ts.tv_nsec),
            )
        };
        Errno::check(r as usize).map(|_| Timespec { tv_sec, tv_nsec })
    }

    /// `gettimeofday(2)`, without the obsolete time zone.
    #[inline]
    pub fn gettimeofday(&self) -> Result<Timeval, Errno> {
        let mut tv = Timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: `tv` is a valid, writable timeval; a null time zone is allowed.
        let r = unsafe { (self.gettimeofday)(&mut tv, ptr::null_mut()) };
        // Field by field, as in `clock_gettime`.
        // SAFETY: reads of a live local.
        let (tv_sec, tv_usec) = unsafe {
            (
                ptr::read_volatile(&tv.tv_sec),
                ptr::read_volatile(&tv.tv_usec),
            )
        };
        Errno::check(r as usize).map(|_| Timeval { tv_sec, tv_usec })
    }

    /// `time(2)`: seconds since the epoch.
    #[inline]
    pub fn time(&self) -> i64 {
        // SAFETY: a null pointer asks only for the return value.
        unsafe { (self.time)(ptr::null_mut()) }
    }

    /// `getcpu(2)`: the CPU and NUMA node the calling thread is running on (by the time it
    /// returns, possibly no longer).
    #[inline]
    pub fn getcpu(&self) -> Result<(u32, u32), Errno> {
        let (mut cpu, mut node) = (0u32, 0u32);
        // SAFETY: both pointers are valid, writable `unsigned`; the cache argument is unused
        // since Linux 2.6.24 and may be null.
        let r = unsafe { (self.getcpu)(&mut cpu, &mut node, ptr::null_mut()) };
        Errno::check(r as usize).map(|_| (cpu, node))
    }
}

// The system-call shims behind `Vdso::without`, with the vDSO functions' prototypes.

unsafe extern "C" fn sys_clock_gettime(clock: c_int, ts: *mut Timespec) -> isize {
    // SAFETY: the caller passes a writable timespec, as to the vDSO function.
    unsafe { arch::syscall2(__NR_clock_gettime as usize, clock as usize, ts as usize) as isize }
}

unsafe extern "C" fn sys_gettimeofday(tv: *mut Timeval, tz: *mut c_void) -> isize {
    // SAFETY: as above.
    unsafe { arch::syscall2(__NR_gettimeofday as usize, tv as usize, tz as usize) as isize }
}

unsafe extern "C" fn sys_time(t: *mut i64) -> i64 {
    // SAFETY: as above; `time` writes through `t` only when it is not null.
    unsafe { arch::syscall1(__NR_time as usize, t as usize) as i64 }
}

unsafe extern "C" fn sys_getcpu(cpu: *mut c_uint, node: *mut c_uint, cache: *mut c_void) -> isize {
    // SAFETY: as above.
    unsafe {
        arch::syscall3(
            __NR_getcpu as usize,
            cpu as usize,
            node as usize,
            cache as usize,
        ) as isize
    }
}

/// The symbol version every x86_64 vDSO function is defined at.
const VERSION: &CStr = c"LINUX_2.6";

/// The parsed dynamic tables of a loaded ELF image. Every pointer points into the image, which
/// the kernel keeps mapped (read-only) for the life of the process.
pub(crate) struct Image {
    /// Added to a virtual address of the image to get where it is mapped.
    load_offset: usize,
    symtab: *const Elf_Sym,
    strtab: *const u8,
    hash: Hash,
    /// `DT_VERSYM` and the index of [`VERSION`] in `DT_VERDEF`; `None` where the image is not
    /// versioned, and then any version matches.
    versym: Option<(*const u16, u16)>,
}

enum Hash {
    /// `DT_GNU_HASH`: nbuckets, symoffset, bloom words, bloom shift, then the three arrays.
    Gnu {
        nbuckets: u32,
        symoffset: u32,
        bloom: *const usize,
        bloom_size: u32,
        bloom_shift: u32,
        buckets: *const u32,
        chain: *const u32,
    },
    /// `DT_HASH`: nbucket, nchain, then buckets and chains.
    Sysv {
        nbucket: u32,
        buckets: *const u32,
        chain: *const u32,
    },
}

impl Image {
    /// The vDSO of this process, or `None` where the kernel mapped none or the image is not
    /// one this code understands.
    pub(crate) fn of_process() -> Option<Image> {
        // SAFETY: `getauxval` is thread-safe and returns 0 for a missing entry.
        let base = unsafe { getauxval(linux_raw_sys::auxvec::AT_SYSINFO_EHDR as c_ulong) };
        // SAFETY: a non-zero AT_SYSINFO_EHDR is the address of the vDSO's ELF header, mapped
        // for the life of the process (vdso(7)).
        unsafe { Image::parse(base as usize) }
    }

    /// # Safety
    /// `base` is 0 or the address of a mapped ELF image whose headers and dynamic tables stay
    /// mapped and unchanged for as long as the `Image` is used.
    unsafe fn parse(base: usize) -> Option<Image> {
        if base == 0 {
            return None;
        }
        // SAFETY: the caller's contract covers every read below, all within the image's headers
        // and the tables its dynamic section points to.
        unsafe {
            let ehdr = &*(base as *const Elf_Ehdr);
            if ehdr.e_ident[..SELFMAG] != ELFMAG
                || ehdr.e_ident[EI_CLASS] != ELFCLASS
                || ehdr.e_ident[EI_DATA] != ELFDATA
                || ehdr.e_machine != EM_CURRENT
                || usize::from(ehdr.e_phentsize) != size_of::<Elf_Phdr>()
            {
                return None;
            }
            let phdrs = core::slice::from_raw_parts(
                (base + ehdr.e_phoff) as *const Elf_Phdr,
                usize::from(ehdr.e_phnum),
            );
            let mut load_offset = None;
            let mut dynamic = None;
            for ph in phdrs {
                match ph.p_type {
                    PT_LOAD if load_offset.is_none() => {
                        load_offset = Some(base.wrapping_add(ph.p_offset).wrapping_sub(ph.p_vaddr));
                    }
                    PT_DYNAMIC => dynamic = Some((base + ph.p_offset) as *const Elf_Dyn),
                    _ => {}
                }
            }
            let (load_offset, mut dynamic) = (load_offset?, dynamic?);

            let (mut symtab, mut strtab, mut sysv, mut gnu, mut versym, mut verdef) =
                (0, 0, 0, 0, 0, 0);
            loop {
                let d = *dynamic;
                let at = d.d_un.d_ptr.wrapping_add(load_offset);
                match d.d_tag {
                    DT_NULL => break,
                    DT_SYMTAB => symtab = at,
                    DT_STRTAB => strtab = at,
                    DT_HASH => sysv = at,
                    DT_GNU_HASH => gnu = at,
                    DT_VERSYM => versym = at,
                    DT_VERDEF => verdef = at,
                    _ => {}
                }
                dynamic = dynamic.add(1);
            }
            if symtab == 0 || strtab == 0 {
                return None;
            }
            let hash = if gnu != 0 {
                let h = gnu as *const u32;
                let (nbuckets, symoffset, bloom_size, bloom_shift) =
                    (*h, *h.add(1), *h.add(2), *h.add(3));
                let bloom = h.add(4) as *const usize;
                let buckets = bloom.add(bloom_size as usize) as *const u32;
                let chain = buckets.add(nbuckets as usize);
                if nbuckets == 0 || bloom_size == 0 {
                    return None;
                }
                Hash::Gnu {
                    nbuckets,
                    symoffset,
                    bloom,
                    bloom_size,
                    bloom_shift,
                    buckets,
                    chain,
                }
            } else if sysv != 0 {
                let h = sysv as *const u32;
                let nbucket = *h;
                if nbucket == 0 {
                    return None;
                }
                Hash::Sysv {
                    nbucket,
                    buckets: h.add(2),
                    chain: h.add(2 + nbucket as usize),
                }
            } else {
                return None;
            };
            let strtab = strtab as *const u8;
            let versym = if versym != 0 && verdef != 0 {
                Some((versym as *const u16, version_index(verdef, strtab)?))
            } else {
                None
            };
            Some(Image {
                load_offset,
                symtab: symtab as *const Elf_Sym,
                strtab,
                hash,
                versym,
            })
        }
    }

    /// The address of the defined function `name` at version [`VERSION`].
    pub(crate) fn lookup(&self, name: &CStr) -> Option<NonNull<c_void>> {
        let bytes = name.to_bytes();
        match self.hash {
            Hash::Gnu {
                nbuckets,
                symoffset,
                bloom,
                bloom_size,
                bloom_shift,
                buckets,
                chain,
            } => {
                let h = gnu_hash(bytes);
                let bits = usize::BITS;
                // SAFETY: every index is reduced modulo the table's own size, and the chain is
                // walked until its end marker (low bit set), as the GNU hash format guarantees.
                unsafe {
                    let word = *bloom.add(((h / bits) % bloom_size) as usize);
                    let mask = (1usize << (h % bits)) | (1usize << ((h >> bloom_shift) % bits));
                    if word & mask != mask {
                        return None;
                    }
                    let mut i = *buckets.add((h % nbuckets) as usize);
                    if i < symoffset {
                        return None;
                    }
                    loop {
                        let ch = *chain.add((i - symoffset) as usize);
                        if ch | 1 == h | 1 {
                            if let Some(p) = self.matching(i, bytes) {
                                return Some(p);
                            }
                        }
                        if ch & 1 != 0 {
                            return None;
                        }
                        i += 1;
                    }
                }
            }
            Hash::Sysv {
                nbucket,
                buckets,
                chain,
            } => {
                // SAFETY: bucket index reduced modulo nbucket; chain entries are symbol indexes
                // below nchain, ending at STN_UNDEF (0).
                unsafe {
                    let mut i = *buckets.add((elf_hash(bytes) % nbucket) as usize);
                    while i != STN_UNDEF {
                        if let Some(p) = self.matching(i, bytes) {
                            return Some(p);
                        }
                        i = *chain.add(i as usize);
                    }
                    None
                }
            }
        }
    }

    /// Symbol `i` if it is a defined, visible function (or untyped symbol) named `name` at the
    /// wanted version.
    ///
    /// # Safety
    /// `i` is a symbol index of this image.
    unsafe fn matching(&self, i: u32, name: &[u8]) -> Option<NonNull<c_void>> {
        // SAFETY: `i` indexes the symbol table (caller); names index the string table.
        unsafe {
            let sym = &*self.symtab.add(i as usize);
            let kind = ELF_ST_TYPE(sym.st_info);
            let bind = ELF_ST_BIND(sym.st_info);
            if !(kind == STT_FUNC || kind == STT_NOTYPE)
                || !(bind == STB_GLOBAL || bind == STB_WEAK)
                || sym.st_shndx == SHN_UNDEF
                || CStr::from_ptr(self.strtab.add(sym.st_name as usize).cast()).to_bytes() != name
            {
                return None;
            }
            if let Some((versym, wanted)) = self.versym {
                // The top bit marks a hidden symbol; the rest is the version index.
                if *versym.add(i as usize) & 0x7fff != wanted {
                    return None;
                }
            }
            NonNull::new(sym.st_value.wrapping_add(self.load_offset) as *mut c_void)
        }
    }
}

/// The index of [`VERSION`] in the version definitions at `verdef`.
///
/// # Safety
/// `verdef` is the image's `DT_VERDEF` table and `strtab` its string table.
unsafe fn version_index(verdef: usize, strtab: *const u8) -> Option<u16> {
    let want = elf_hash(VERSION.to_bytes());
    let mut def = verdef as *const Elf_Verdef;
    // SAFETY: the chain of definitions is linked by byte offsets and ends at `vd_next == 0`;
    // each has at least one auxiliary entry naming it.
    unsafe {
        loop {
            let d = &*def;
            if d.vd_flags & VER_FLG_BASE == 0 && d.vd_hash == want {
                let aux = &*((def as *const u8).add(d.vd_aux as usize) as *const Elf_Verdaux);
                let name = CStr::from_ptr(strtab.add(aux.vda_name as usize).cast());
                if name == VERSION {
                    return Some(d.vd_ndx & 0x7fff);
                }
            }
            if d.vd_next == 0 {
                return None;
            }
            def = (def as *const u8).add(d.vd_next as usize) as *const Elf_Verdef;
        }
    }
}

/// The SysV ELF hash (`DT_HASH`, and `vd_hash` of version definitions).
pub(crate) fn elf_hash(name: &[u8]) -> u32 {
    name.iter().fold(0u32, |h, &c| {
        let h = (h << 4).wrapping_add(u32::from(c));
        let g = h & 0xf000_0000;
        (h ^ (g >> 24)) & !g
    })
}

/// The GNU hash (`DT_GNU_HASH`): Bernstein's `h * 33 + c`, from 5381.
pub(crate) fn gnu_hash(name: &[u8]) -> u32 {
    name.iter().fold(5381u32, |h, &c| {
        h.wrapping_mul(33).wrapping_add(u32::from(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_known_values() {
        // Values from the ELF and GNU specifications' examples and binutils' own tables.
        assert_eq!(elf_hash(b""), 0);
        assert_eq!(elf_hash(b"printf"), 0x0779_05a6);
        assert_eq!(elf_hash(b"exit"), 0x0006_cf04);
        assert_eq!(elf_hash(b"syscall"), 0x0b09_985c);
        assert_eq!(elf_hash(b"LINUX_2.6"), 0x03ae_75f6);
        assert_eq!(gnu_hash(b""), 0x0000_1505);
        assert_eq!(gnu_hash(b"printf"), 0x156b_2bb8);
        assert_eq!(gnu_hash(b"exit"), 0x7c96_7e3f);
        assert_eq!(gnu_hash(b"syscall"), 0xbac2_12a0);
    }

    #[test]
    fn every_symbol_is_found_through_both_tables() {
        let image = Image::of_process().expect("this kernel maps a vDSO");
        let names = [
            c"__vdso_clock_gettime",
            c"__vdso_gettimeofday",
            c"__vdso_time",
            c"__vdso_getcpu",
        ];
        let via_gnu: Vec<_> = names.iter().map(|n| image.lookup(n)).collect();
        assert!(via_gnu.iter().all(Option::is_some), "{via_gnu:?}");
        assert!(image.lookup(c"__vdso_no_such_function").is_none());
        assert!(image.lookup(c"").is_none());

        // The same image read through its SysV table, where it has one, finds the same
        // addresses.
        // SAFETY: the process's own vDSO, as in `of_process`.
        let base = unsafe { getauxval(linux_raw_sys::auxvec::AT_SYSINFO_EHDR as c_ulong) };
        let mut sysv = unsafe { Image::parse(base as usize) }.unwrap();
        // x86_64 kernels link the vDSO with both tables (`--hash-style=both`).
        sysv.hash = sysv_table(base as usize).expect("the vDSO has a DT_HASH table");
        assert!(
            matches!(image.hash, Hash::Gnu { .. }),
            "GNU hash is preferred"
        );
        let via_sysv: Vec<_> = names.iter().map(|n| sysv.lookup(n)).collect();
        assert_eq!(via_gnu, via_sysv);
        assert!(sysv.lookup(c"__vdso_no_such_function").is_none());
    }

    /// The image's `DT_HASH`, if it has one besides `DT_GNU_HASH`.
    fn sysv_table(base: usize) -> Option<Hash> {
        // SAFETY: walks the dynamic section of the process's vDSO, as `parse` does.
        unsafe {
            let ehdr = &*(base as *const Elf_Ehdr);
            let phdrs = core::slice::from_raw_parts(
                (base + ehdr.e_phoff) as *const Elf_Phdr,
                usize::from(ehdr.e_phnum),
            );
            let load = phdrs.iter().find(|p| p.p_type == PT_LOAD)?;
            let off = base + load.p_offset - load.p_vaddr;
            let dynp = phdrs.iter().find(|p| p.p_type == PT_DYNAMIC)?;
            let mut d = (base + dynp.p_offset) as *const Elf_Dyn;
            while (*d).d_tag != DT_NULL {
                if (*d).d_tag == DT_HASH {
                    let h = ((*d).d_un.d_ptr + off) as *const u32;
                    let nbucket = *h;
                    return Some(Hash::Sysv {
                        nbucket,
                        buckets: h.add(2),
                        chain: h.add(2 + nbucket as usize),
                    });
                }
                d = d.add(1);
            }
            None
        }
    }

    #[test]
    fn vdso_and_system_call_agree() {
        let (fast, slow) = (Vdso::get(), Vdso::without());
        assert_eq!(fast.found(), [true; 4]);
        assert_eq!(slow.found(), [false; 4]);
        for clock in [0, 1, 4, 5, 6, 7] {
            let a = slow.clock_gettime(clock).unwrap();
            let b = fast.clock_gettime(clock).unwrap();
            let c = slow.clock_gettime(clock).unwrap();
            let ns = |t: Timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
            // Coarse clocks tick at the scheduler tick, so allow them their granularity.
            let slack = if matches!(clock, 5 | 6) {
                20_000_000
            } else {
                0
            };
            assert!(
                ns(a) <= ns(b) + slack && ns(b) <= ns(c) + slack,
                "clock {clock}"
            );
        }
        assert_eq!(fast.clock_gettime(-100), Err(Errno::EINVAL));
        assert_eq!(slow.clock_gettime(12345), Err(Errno::EINVAL));
        let (tv1, tv2) = (fast.gettimeofday().unwrap(), slow.gettimeofday().unwrap());
        assert!((tv2.tv_sec - tv1.tv_sec) <= 1 && tv1.tv_usec < 1_000_000);
        assert!(slow.time() - fast.time() <= 1);
        let (cpu, _) = fast.getcpu().unwrap();
        let (cpu2, _) = slow.getcpu().unwrap();
        let n = std::thread::available_parallelism().map_or(1024, |n| n.get()) as u32;
        assert!(cpu < n.max(1024) && cpu2 < n.max(1024));
    }
}
