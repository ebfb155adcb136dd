import loci.common.DebugTools;
import loci.formats.ImageReader;
import java.security.MessageDigest;

/**
 * Prints, for every series and plane: series z c t sha1-of-plane-bytes; for
 * pyramids also the resolution count and every reduced plane (LEVEL lines).
 */
public class PlaneDigest {
  static String sha1(byte[] bytes) throws Exception {
    StringBuilder hex = new StringBuilder();
    for (byte b : MessageDigest.getInstance("SHA-1").digest(bytes)) {
      hex.append(String.format("%02x", b));
    }
    return hex.toString();
  }

  public static void main(String[] args) throws Exception {
    DebugTools.setRootLevel("ERROR");
    ImageReader reader = new ImageReader();
    reader.setFlattenedResolutions(false);
    reader.setId(args[0]);
    System.out.println("SERIES " + reader.getSeriesCount());
    for (int s = 0; s < reader.getSeriesCount(); s++) {
      reader.setSeries(s);
      System.out.println("SIZES " + s + " " + reader.getSizeZ() + " " + reader.getSizeC()
          + " " + reader.getSizeT() + " " + reader.getDimensionOrder() + " "
          + loci.formats.FormatTools.getPixelTypeString(reader.getPixelType()));
      for (int i = 0; i < reader.getImageCount(); i++) {
        int[] zct = reader.getZCTCoords(i);
        String hex = sha1(reader.openBytes(i));
        System.out.println("PLANE " + s + " " + zct[0] + " " + zct[1] + " " + zct[2] + " " + hex);
      }
      System.out.println("RESOLUTIONS " + s + " " + reader.getResolutionCount());
      for (int r = 1; r < reader.getResolutionCount(); r++) {
        reader.setResolution(r);
        for (int i = 0; i < reader.getImageCount(); i++) {
          int[] zct = reader.getZCTCoords(i);
          String hex = sha1(reader.openBytes(i));
          System.out.println("LEVEL " + s + " " + r + " " + reader.getSizeX() + " "
              + reader.getSizeY() + " " + zct[0] + " " + zct[1] + " " + zct[2] + " " + hex);
        }
      }
      reader.setResolution(0);
    }
    reader.close();
  }
}
