//! Raspberry Pi Pico 2 (RP2350) start-up: the image definition the boot ROM looks for.
//!
//! The system clock stays as the boot ROM leaves it; the cost is reported in DWT cycles,
//! which do not depend on the clock (flash wait states aside).

/// The smallest valid block (RP2350 datasheet, "Minimum viable image metadata"): one
/// IMAGE_DEF item saying "Arm executable, Secure mode, RP2350", then LAST, a link to
/// itself and the end marker. `memory/rp2350.x` places it right after the vector table,
/// inside the first 4 KiB of flash where the boot ROM searches; `tests/tests/firmware_image.rs`
/// checks it in the release ELF.
#[link_section = ".start_block"]
#[used]
static IMAGE_DEF: [u32; 5] = [
    0xFFFF_DED3, // PICOBIN_BLOCK_MARKER_START
    0x1021_0142, // item IMAGE_TYPE (0x42), 1 word: EXE | SECURE | ARM | RP2350 (0x1021)
    0x0000_01FF, // item LAST (0xff), the items before it total 1 word
    0x0000_0000, // relative link to the next block: 0, this block loops to itself
    0xAB12_3579, // PICOBIN_BLOCK_MARKER_END
];

pub fn init() {
    defmt::println!("rp2350: clk_sys as the boot ROM left it; cost in DWT cycles");
}
