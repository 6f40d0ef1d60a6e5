//! What is on screen: each slot's texture (written by the GPU, or uploaded pixels on the CPU
//! backend) and the images' thumbnails.

use std::collections::HashMap;

use eframe::egui_wgpu;
use egui::{ColorImage, TextureHandle, TextureId, TextureOptions};
use image::RgbImage;

use super::state::AppState;
use crate::engine::worker::{ImageId, Output, Slot};

enum SlotTexture {
    /// Registered with egui's wgpu renderer; written by the GPU (kept alive while shown).
    Native {
        id: TextureId,
        texture: eframe::wgpu::Texture,
    },
    /// Uploaded pixels.
    Managed(TextureHandle, RgbImage),
}

struct SlotView {
    texture: SlotTexture,
    size: [usize; 2],
    /// The request it answers.
    seq: u64,
    style: Vec<f32>,
}

impl SlotView {
    fn id(&self) -> TextureId {
        match &self.texture {
            SlotTexture::Native { id, .. } => *id,
            SlotTexture::Managed(handle, _) => handle.id(),
        }
    }
}

/// Slot textures and thumbnails.
#[derive(Default)]
pub struct Display {
    slots: HashMap<Slot, SlotView>,
    thumbnails: HashMap<ImageId, TextureHandle>,
    map_thumbnails: HashMap<std::path::PathBuf, TextureHandle>,
    /// Effect maps on screen: what they answer, a texture per direction, and the maps (for
    /// exports).
    effects: Option<(
        crate::engine::worker::EffectRequest,
        Vec<TextureHandle>,
        std::sync::Arc<crate::engine::effects::EffectMaps>,
    )>,
    /// Magnify smoothly (bilinear) instead of nearest-neighbour.
    smooth: bool,
    /// The content image's region-brush mask as a translucent overlay, and the mask it shows.
    mask_overlay: Option<(std::sync::Arc<image::GrayImage>, TextureHandle)>,
}

/// Colour of the painted region over the content image.
pub const MASK_COLOUR: [u8; 3] = [255, 60, 140];

/// Side of a thumbnail, in pixels.
const THUMBNAIL: u32 = 96;

impl Display {
    /// Puts a rendered image on screen.
    pub fn show(
        &mut self,
        ctx: &egui::Context,
        render_state: Option<&egui_wgpu::RenderState>,
        slot: Slot,
        seq: u64,
        style: Vec<f32>,
        output: Output,
    ) {
        let size = output.size();
        let previous = self.slots.remove(&slot);
        let texture = match output {
            Output::Texture(texture) => {
                let Some(rs) = render_state else { return };
                let view = texture.create_view(&Default::default());
                let mut renderer = rs.renderer.write();
                let filter = self.wgpu_filter();
                let id = match previous {
                    Some(SlotView {
                        texture: SlotTexture::Native { id, .. },
                        ..
                    }) => {
                        renderer
                            .update_egui_texture_from_wgpu_texture(&rs.device, &view, filter, id);
                        id
                    }
                    _ => renderer.register_native_texture(&rs.device, &view, filter),
                };
                SlotTexture::Native { id, texture }
            }
            Output::Pixels(pixels) => {
                let color = ColorImage::from_rgb(
                    [pixels.width() as usize, pixels.height() as usize],
                    pixels.as_raw(),
                );
                match previous {
                    Some(SlotView {
                        texture: SlotTexture::Managed(mut handle, _),
                        ..
                    }) => {
                        handle.set(color, self.texture_options());
                        SlotTexture::Managed(handle, pixels)
                    }
                    _ => SlotTexture::Managed(
                        ctx.load_texture(format!("{slot:?}"), color, self.texture_options()),
                        pixels,
                    ),
                }
            }
        };
        let view = SlotView {
            texture,
            size,
            seq,
            style,
        };
        self.slots.insert(slot, view);
    }

    fn wgpu_filter(&self) -> eframe::wgpu::FilterMode {
        match self.smooth {
            true => eframe::wgpu::FilterMode::Linear,
            false => eframe::wgpu::FilterMode::Nearest,
        }
    }

    fn texture_options(&self) -> TextureOptions {
        match self.smooth {
            true => TextureOptions::LINEAR,
            false => TextureOptions::NEAREST,
        }
    }

    /// Switches between smooth and nearest-neighbour magnification, for the pictures on
    /// screen too.
    pub fn set_smooth(&mut self, smooth: bool, render_state: Option<&egui_wgpu::RenderState>) {
        if self.smooth == smooth {
            return;
        }
        self.smooth = smooth;
        let (filter, options) = (self.wgpu_filter(), self.texture_options());
        for view in self.slots.values_mut() {
            match &mut view.texture {
                SlotTexture::Native { id, texture } => {
                    if let Some(rs) = render_state {
                        let texture_view = texture.create_view(&Default::default());
                        rs.renderer.write().update_egui_texture_from_wgpu_texture(
                            &rs.device,
                            &texture_view,
                            filter,
                            *id,
                        );
                    }
                }
                SlotTexture::Managed(handle, pixels) => {
                    let size = [pixels.width() as usize, pixels.height() as usize];
                    handle.set(ColorImage::from_rgb(size, pixels.as_raw()), options);
                }
            }
        }
    }

    /// A slot's texture and its size in pixels.
    pub fn texture_of(&self, slot: Slot) -> Option<(TextureId, [usize; 2])> {
        self.slots.get(&slot).map(|v| (v.id(), v.size))
    }

    /// The sequence number of the request a slot's picture answers.
    pub fn shown_seq(&self, slot: Slot) -> Option<u64> {
        self.slots.get(&slot).map(|v| v.seq)
    }

    pub fn has(&self, slot: Slot) -> bool {
        self.slots.contains_key(&slot)
    }

    pub fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.slots.keys()
    }

    /// The code shown in `slot`.
    pub fn style_of(&self, slot: Slot) -> Option<&[f32]> {
        self.slots.get(&slot).map(|v| v.style.as_slice())
    }

    /// A slot's pixels: read back from the GPU texture or the uploaded copy (tests, bug reports).
    pub fn rgba(
        &self,
        slot: Slot,
        render_state: Option<&egui_wgpu::RenderState>,
    ) -> Option<(usize, usize, Vec<u8>)> {
        let view = self.slots.get(&slot)?;
        let [w, h] = view.size;
        match &view.texture {
            SlotTexture::Native { texture, .. } => {
                let rs = render_state?;
                let bytes = crate::engine::texture::read_texture(&rs.device, &rs.queue, texture)?;
                Some((w, h, bytes))
            }
            SlotTexture::Managed(_, pixels) => Some((
                w,
                h,
                image::DynamicImage::ImageRgb8(pixels.clone())
                    .to_rgba8()
                    .into_raw(),
            )),
        }
    }

    /// Makes thumbnails for new images and drops those of images the state no longer holds.
    pub fn sync_thumbnails(&mut self, ctx: &egui::Context, state: &AppState) {
        let held: Vec<ImageId> = state.held_images().collect();
        self.thumbnails.retain(|id, _| held.contains(id));
        for entry in &state.images {
            self.thumbnails.entry(entry.id).or_insert_with(|| {
                let thumb = entry.image.thumbnail(THUMBNAIL, THUMBNAIL).to_rgba8();
                ctx.load_texture(
                    format!("thumb-{}", entry.id),
                    ColorImage::from_rgba_unmultiplied(
                        [thumb.width() as usize, thumb.height() as usize],
                        thumb.as_raw(),
                    ),
                    TextureOptions::LINEAR,
                )
            });
        }
    }

    /// Keeps the mask overlay in step with the content image's mask (uploaded when it changes).
    pub fn sync_mask(&mut self, ctx: &egui::Context, state: &AppState) {
        let Some(mask) = state
            .content_mask()
            .filter(|_| state.region_on)
            .map(|painted| painted.mask())
        else {
            self.mask_overlay = None;
            return;
        };
        if let Some((shown, handle)) = &mut self.mask_overlay {
            if std::sync::Arc::ptr_eq(shown, mask) {
                return;
            }
            handle.set(
                super::brush::overlay(mask, MASK_COLOUR),
                TextureOptions::LINEAR,
            );
            *shown = mask.clone();
            return;
        }
        let handle = ctx.load_texture(
            "region-mask",
            super::brush::overlay(mask, MASK_COLOUR),
            TextureOptions::LINEAR,
        );
        self.mask_overlay = Some((mask.clone(), handle));
    }

    /// The mask overlay's texture, while the brush is on and a mask is painted.
    pub fn mask_overlay(&self) -> Option<TextureId> {
        self.mask_overlay.as_ref().map(|(_, handle)| handle.id())
    }

    pub fn thumbnail(&self, id: ImageId) -> Option<TextureId> {
        self.thumbnails.get(&id).map(TextureHandle::id)
    }

    /// Textures of the style map's file thumbnails (kept by path, made when a file arrives).
    pub fn sync_map_thumbnails(&mut self, ctx: &egui::Context, state: &AppState) {
        let files = &state.map.files;
        if self.map_thumbnails.len() == files.len()
            && files
                .last()
                .is_none_or(|f| self.map_thumbnails.contains_key(&f.path))
        {
            return;
        }
        // Files leave only when the map is cleared or encoded again (rare): check them by set.
        if self.map_thumbnails.len() > files.len()
            || files
                .first()
                .is_some_and(|f| !self.map_thumbnails.contains_key(&f.path))
        {
            let on_map: std::collections::HashSet<&std::path::Path> =
                files.iter().map(|f| f.path.as_path()).collect();
            self.map_thumbnails
                .retain(|path, _| on_map.contains(path.as_path()));
        }
        for file in files {
            self.map_thumbnails
                .entry(file.path.clone())
                .or_insert_with(|| {
                    let thumb = &file.thumbnail;
                    ctx.load_texture(
                        format!("map-{}", file.path.display()),
                        ColorImage::from_rgb(
                            [thumb.width() as usize, thumb.height() as usize],
                            thumb.as_raw(),
                        ),
                        TextureOptions::LINEAR,
                    )
                });
        }
    }

    /// New effect maps (one colour scale for all, so maps compare).
    pub fn show_effects(
        &mut self,
        ctx: &egui::Context,
        request: crate::engine::worker::EffectRequest,
        maps: crate::engine::effects::EffectMaps,
    ) {
        let scale = maps.max();
        let textures = (maps.maps.iter().enumerate())
            .map(|(k, values)| {
                let picture = super::compose::heat_map(values, maps.width, maps.height, scale);
                ctx.load_texture(
                    format!("effect-{k}"),
                    ColorImage::from_rgb([maps.width, maps.height], picture.as_raw()),
                    TextureOptions::NEAREST,
                )
            })
            .collect();
        self.effects = Some((request, textures, std::sync::Arc::new(maps)));
    }

    /// The effect maps on screen and the request they answer.
    pub fn effects(&self) -> Option<(&crate::engine::worker::EffectRequest, Vec<TextureId>)> {
        let (request, textures, _) = self.effects.as_ref()?;
        Some((request, textures.iter().map(TextureHandle::id).collect()))
    }

    /// The effect maps on screen with the request they answer.
    pub fn effect_maps(
        &self,
    ) -> Option<(
        &crate::engine::worker::EffectRequest,
        std::sync::Arc<crate::engine::effects::EffectMaps>,
    )> {
        let (request, _, maps) = self.effects.as_ref()?;
        Some((request, maps.clone()))
    }

    pub fn map_thumbnail(&self, path: &std::path::Path) -> Option<TextureId> {
        self.map_thumbnails.get(path).map(TextureHandle::id)
    }
}
