//! Reads each board's release firmware the way the chip's boot ROM and the debug probe will,
//! so a broken image fails here rather than on a user's bench:
//! - the vector table sits where the core fetches it after boot (address 0, the Secure
//!   code alias on the AN505, after the second-stage bootloader on the RP2040, the start of
//!   flash on the RP2350), its initial stack pointer is the top of RAM and its reset and
//!   HardFault vectors are Thumb addresses inside the code;
//! - RP2040: the 256-byte second-stage bootloader is at the start of flash with the CRC the
//!   boot ROM checks before running it;
//! - RP2350: a well-formed block with an IMAGE_DEF item (Arm, Secure, executable, RP2350)
//!   in the first 4 KiB of flash, where the boot ROM searches;
//! - everything loaded lies in the chip's flash, everything else in its RAM, with room left
//!   for the stack.
//!
//! Skips (fails when `CI=true`) without the committed model.

use object::elf::PT_LOAD;
use object::read::elf::{ElfFile32, ProgramHeader};
use object::{Endianness, Object, ObjectSection, ObjectSymbol};
use tinymlp_tests::{firmware_elf, repo_root};

struct Chip {
    /// The variant `scripts/firmware-build.sh` builds.
    variant: &'static str,
    flash: (u32, u32),
    ram: (u32, u32),
    vector_table: u32,
    boot: Boot,
}

enum Boot {
    /// The core fetches the vector table itself (QEMU, nRF52840).
    Direct,
    /// RP2040: boot2 in the first 256 bytes of flash, CRC-32/MPEG-2 in its last 4.
    SecondStage,
    /// RP2350: a block with an IMAGE_DEF item in the first 4 KiB of flash.
    ImageDefinition,
}

const KIB: u32 = 1024;
const MIB: u32 = 1024 * KIB;
/// Stack the inference needs (BENCHMARKS.md: about 3.3 KB peak, 4.2 KB while loading),
/// with headroom.
const STACK_NEEDED: u32 = 8 * KIB;

const CHIPS: [Chip; 6] = [
    Chip {
        variant: "qemu",
        flash: (0, 4 * MIB),
        ram: (0x2000_0000, 4 * MIB),
        vector_table: 0,
        boot: Boot::Direct,
    },
    Chip {
        variant: "mps2-an500",
        flash: (0, 4 * MIB),
        ram: (0x2000_0000, 4 * MIB),
        vector_table: 0,
        boot: Boot::Direct,
    },
    Chip {
        variant: "mps2-an505",
        flash: (0x1000_0000, 4 * MIB),
        ram: (0x3800_0000, 4 * MIB),
        // QEMU's AN505 boots its Secure core from the Secure alias of the code memory.
        vector_table: 0x1000_0000,
        boot: Boot::Direct,
    },
    Chip {
        variant: "nrf52840",
        flash: (0, MIB),
        ram: (0x2000_0000, 256 * KIB),
        vector_table: 0,
        boot: Boot::Direct,
    },
    Chip {
        variant: "rp2040",
        // The Pico's W25Q16 flash; SRAM0-3 striped plus SRAM4 and 5.
        flash: (0x1000_0000, 2 * MIB),
        ram: (0x2000_0000, 264 * KIB),
        // boot2 ends by jumping through the vector table right after itself.
        vector_table: 0x1000_0100,
        boot: Boot::SecondStage,
    },
    Chip {
        variant: "rp2350",
        // The Pico 2's 4 MiB flash; SRAM0-9.
        flash: (0x1000_0000, 4 * MIB),
        ram: (0x2000_0000, 520 * KIB),
        vector_table: 0x1000_0000,
        boot: Boot::ImageDefinition,
    },
];

#[test]
fn every_board_image_boots_as_its_chip_expects() {
    if !repo_root().join("models/mnist-int8.tmlp").is_file() {
        let message = "firmware image check needs models/mnist-int8.tmlp";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}");
        }
        eprintln!("SKIPPED: {message}");
        return;
    }
    // One board after another: boards of one target share one output path.
    let mut failures = Vec::new();
    for chip in &CHIPS {
        let problems = match firmware_elf(chip.variant) {
            Ok(elf) => inspect(chip, &elf),
            Err(error) => vec![error],
        };
        if problems.is_empty() {
            eprintln!("{}: image as the boot ROM and probe expect", chip.variant);
        }
        failures.extend(
            problems
                .into_iter()
                .map(|p| format!("{}: {p}", chip.variant)),
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Every way `elf` would fail to boot on `chip`.
fn inspect(chip: &Chip, elf: &[u8]) -> Vec<String> {
    let file = match ElfFile32::<Endianness>::parse(elf) {
        Ok(file) => file,
        Err(error) => return vec![format!("not a 32-bit ELF: {error}")],
    };
    let mut problems = Vec::new();
    let flash = Region::new(chip.flash);
    let ram = Region::new(chip.ram);

    let Some(text) = file.section_by_name(".text") else {
        return vec!["no .text section".into()];
    };
    let code = Region::new((text.address() as u32, text.size() as u32));
    match file.section_by_name(".vector_table") {
        None => problems.push("no .vector_table section".into()),
        Some(table) => {
            if table.address() != u64::from(chip.vector_table) {
                problems.push(format!(
                    "vector table at {:#x}, the core fetches it at {:#x}",
                    table.address(),
                    chip.vector_table
                ));
            }
            let words = words(table.data().unwrap_or_default());
            let reset = symbol(&file, "Reset");
            problems.extend(check_vectors(&words, &ram, &code, reset));
        }
    }

    let endian = file.endian();
    let mut ram_end = chip.ram.0;
    let headers = file.elf_program_headers();
    for header in headers.iter().filter(|h| h.p_type(endian) == PT_LOAD) {
        let (load, run) = (header.p_paddr(endian), header.p_vaddr(endian));
        let (stored, size) = (header.p_filesz(endian), header.p_memsz(endian));
        if stored > 0 && !flash.holds(load, stored) {
            problems.push(format!(
                "{stored} bytes loaded at {load:#x}, outside flash {flash}"
            ));
        }
        if run != load || stored < size {
            // Copied or zeroed at start-up: lives in RAM.
            if !ram.holds(run, size) {
                problems.push(format!(
                    "{size} bytes of data at {run:#x}, outside RAM {ram}"
                ));
            }
            ram_end = ram_end.max(run + size);
        }
    }
    let stack_room = (chip.ram.0 + chip.ram.1).saturating_sub(ram_end);
    if stack_room < STACK_NEEDED {
        problems.push(format!(
            "{stack_room} bytes of RAM left for the stack, the inference needs {STACK_NEEDED}"
        ));
    }

    match chip.boot {
        Boot::Direct => {}
        Boot::SecondStage => match file.section_by_name(".boot2") {
            None => problems.push("no .boot2 section".into()),
            Some(boot2) => problems.extend(check_boot2(
                boot2.address(),
                boot2.data().unwrap_or_default(),
                chip.flash.0,
            )),
        },
        Boot::ImageDefinition => {
            problems.extend(check_block(&words(&flash_start_bytes(&file, &flash))));
        }
    }
    problems
}

/// Initial SP, reset and HardFault vectors.
fn check_vectors(words: &[u32], ram: &Region, code: &Region, reset: Option<u64>) -> Vec<String> {
    let mut problems = Vec::new();
    let [sp, reset_vector, _nmi, hard_fault, ..] = words else {
        return vec![format!("vector table of {} words", words.len())];
    };
    if sp % 8 != 0 || *sp <= ram.start || *sp > ram.end() {
        problems.push(format!(
            "initial stack pointer {sp:#x}: not 8-byte aligned inside RAM {ram}"
        ));
    }
    for (name, vector) in [("reset", reset_vector), ("HardFault", hard_fault)] {
        if vector & 1 == 0 || !code.holds(vector & !1, 2) {
            problems.push(format!(
                "{name} vector {vector:#x}: not a Thumb address inside .text {code}"
            ));
        }
    }
    if reset != Some(u64::from(*reset_vector & !1)) {
        problems.push(format!(
            "reset vector {reset_vector:#x} is not the Reset symbol ({reset:x?})"
        ));
    }
    problems
}

/// The RP2040 boot ROM copies the first 256 bytes of flash to RAM and runs them only if
/// their last word is the CRC-32/MPEG-2 of the first 252.
fn check_boot2(address: u64, data: &[u8], flash_start: u32) -> Vec<String> {
    if address != u64::from(flash_start) || data.len() != 256 {
        return vec![format!(
            ".boot2: {} bytes at {address:#x}, the boot ROM reads 256 at {flash_start:#x}",
            data.len(),
        )];
    }
    let (code, stored) = data.split_at(252);
    let expected = crc::Crc::<u32>::new(&crc::CRC_32_MPEG_2).checksum(code);
    let stored = u32::from_le_bytes(stored.try_into().expect("4 bytes"));
    if stored != expected {
        return vec![format!(
            ".boot2 CRC {stored:#010x}, the boot ROM computes {expected:#010x}"
        )];
    }
    Vec::new()
}

const BLOCK_START: u32 = 0xFFFF_DED3;
const BLOCK_END: u32 = 0xAB12_3579;
const ITEM_IMAGE_TYPE: u8 = 0x42;
const ITEM_LAST: u8 = 0xFF;
/// IMAGE_TYPE flags: bits 0-3 image type (1 = executable), 4-5 security (2 = Secure),
/// 8-10 CPU (0 = Arm), 12-14 chip (1 = RP2350).
const EXE_SECURE_ARM_RP2350: (u32, u32) = (0x7731, 0x1021);

/// The bytes of the first 4 KiB of flash, where the RP2350 boot ROM searches for a block.
fn flash_start_bytes(file: &ElfFile32<Endianness>, flash: &Region) -> Vec<u8> {
    let search = 4 * KIB;
    let mut first = Vec::new();
    for section in file.sections() {
        let address = section.address() as u32;
        if address >= flash.start && address < flash.start + search {
            let data = section.data().unwrap_or_default();
            let offset = (address - flash.start) as usize;
            if first.len() < offset + data.len() {
                first.resize(offset + data.len(), 0);
            }
            first[offset..offset + data.len()].copy_from_slice(data);
        }
    }
    first.truncate(search as usize);
    first
}

/// A block as the RP2350 boot ROM reads it: the start marker, items (a header word whose
/// low byte is the type; the size in words is in the next byte, or the next two bytes when
/// the type's top bit is set), LAST (whose size is the words of the items before it), a
/// relative link to the next block, the end marker.
fn check_block(words: &[u32]) -> Vec<String> {
    let Some(start) = words.iter().position(|&w| w == BLOCK_START) else {
        return vec!["no block start marker in the first 4 KiB of flash".into()];
    };
    let mut index = start + 1;
    let mut image_type = None;
    loop {
        let Some(&header) = words.get(index) else {
            return vec!["block runs past the first 4 KiB".into()];
        };
        let kind = header as u8;
        let size = if kind & 0x80 != 0 {
            (header >> 8) & 0xFFFF
        } else {
            (header >> 8) & 0xFF
        } as usize;
        if kind == ITEM_LAST {
            if size != index - start - 1 {
                return vec![format!(
                    "LAST item says {size} words of items, the block has {}",
                    index - start - 1
                )];
            }
            break;
        }
        if size == 0 {
            return vec![format!("item {kind:#04x} of size 0")];
        }
        if kind == ITEM_IMAGE_TYPE {
            image_type = Some(header >> 16);
        }
        index += size;
    }
    let mut problems = Vec::new();
    match image_type {
        None => problems.push("block without an IMAGE_DEF (IMAGE_TYPE) item".into()),
        Some(flags) if flags & EXE_SECURE_ARM_RP2350.0 != EXE_SECURE_ARM_RP2350.1 => {
            problems.push(format!(
                "IMAGE_TYPE flags {flags:#06x}: not a Secure Arm executable for the RP2350"
            ));
        }
        Some(_) => {}
    }
    let link = words.get(index + 1).copied();
    if link != Some(0) {
        // A single block must link to itself (0); a chain is not what this firmware writes.
        problems.push(format!("block link {link:x?}, expected 0 (itself)"));
    }
    if words.get(index + 2) != Some(&BLOCK_END) {
        problems.push("no block end marker after the link".into());
    }
    problems
}

fn words(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")))
        .collect()
}

fn symbol(file: &ElfFile32<Endianness>, name: &str) -> Option<u64> {
    file.symbols()
        .find(|s| s.name() == Ok(name))
        .map(|s| s.address() & !1)
}

/// `[start, start + size)`.
struct Region {
    start: u32,
    size: u32,
}

impl Region {
    fn new((start, size): (u32, u32)) -> Self {
        Region { start, size }
    }

    fn end(&self) -> u32 {
        self.start + self.size
    }

    fn holds(&self, address: u32, size: u32) -> bool {
        address >= self.start
            && address
                .checked_add(size)
                .is_some_and(|end| end <= self.end())
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}..{:#x}", self.start, self.end())
    }
}

/// The checks must catch what they claim to: a vector table with an even reset vector, a
/// stack pointer outside RAM, a corrupted boot2 CRC and a block without IMAGE_DEF fail.
#[test]
fn the_checks_reject_broken_images() {
    let mut boot2 = vec![0x4Bu8; 256];
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_MPEG_2).checksum(&boot2[..252]);
    boot2[252..].copy_from_slice(&crc.to_le_bytes());
    assert!(check_boot2(0x1000_0000, &boot2, 0x1000_0000).is_empty());
    assert!(!check_boot2(0x1000_0100, &boot2, 0x1000_0000).is_empty());
    boot2[7] ^= 1;
    assert!(!check_boot2(0x1000_0000, &boot2, 0x1000_0000).is_empty());

    let vector_table = [0x2004_0000, 0x1000_0101];
    let block = [BLOCK_START, 0x1021_0142, 0x0000_01FF, 0, BLOCK_END];
    assert!(check_block(&[&vector_table[..], &block].concat()).is_empty());
    let for_rp2040 = [BLOCK_START, 0x0021_0142, 0x0000_01FF, 0, BLOCK_END];
    assert!(!check_block(&for_rp2040).is_empty());
    let no_image_def = [BLOCK_START, 0x0000_0143, 0x0000_01FF, 0, BLOCK_END];
    assert!(!check_block(&no_image_def).is_empty());
    let wrong_last = [BLOCK_START, 0x1021_0142, 0x0000_02FF, 0, BLOCK_END];
    assert!(!check_block(&wrong_last).is_empty());
    let no_end = [BLOCK_START, 0x1021_0142, 0x0000_01FF, 0, 0];
    assert!(!check_block(&no_end).is_empty());
    assert!(!check_block(&vector_table).is_empty());

    let ram = Region::new((0x2000_0000, 256 * KIB));
    let code = Region::new((0x100, 0x1000));
    let good = [0x2004_0000, 0x201, 0, 0x301];
    assert!(check_vectors(&good, &ram, &code, Some(0x200)).is_empty());
    let even_reset = [0x2004_0000, 0x200, 0, 0x301];
    assert!(!check_vectors(&even_reset, &ram, &code, Some(0x200)).is_empty());
    let sp_outside = [0x3000_0000, 0x201, 0, 0x301];
    assert!(!check_vectors(&sp_outside, &ram, &code, Some(0x200)).is_empty());
    let wrong_symbol = [0x2004_0000, 0x203, 0, 0x301];
    assert!(!check_vectors(&wrong_symbol, &ram, &code, Some(0x200)).is_empty());
}

/// A board built for another core's target must stop in build.rs with the command that
/// works, not link an image that faults at its first instruction.
#[test]
fn a_board_built_for_the_wrong_target_is_refused_with_the_right_command() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let build = std::process::Command::new(cargo)
        .current_dir(repo_root().join("firmware-example"))
        // The firmware's default target is thumbv7em-none-eabihf (its .cargo/config.toml).
        .args(["build", "--release", "--locked", "--features", "rp2040"])
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("start cargo");
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(
        !build.status.success(),
        "rp2040 built for the M4:\n{stderr}"
    );
    assert!(
        stderr.contains("cargo run --release --features rp2040 --target thumbv6m-none-eabi"),
        "build.rs does not name the right command:\n{stderr}"
    );
}
